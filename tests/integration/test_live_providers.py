"""The worker in live mode: the real SDKs, pointed by base URL at a local server that speaks
the OpenAI and Anthropic protocols, on the real broker. Outages are injected per model."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests.fakes.llm_server import FakeLLMServer, ThreadedFakeLLMServer
from tests.integration.helpers import (
    WorkerProcess,
    produce,
    read_topic,
    run_cli,
    unique_prefix,
    values,
    wait_for_topics,
)

pytestmark = [pytest.mark.integration]

OPENAI_KEY = "sk-live-SECRET-4f9a1c77e2"
ANTHROPIC_KEY = "ak-live-SECRET-0b3d5e8812"
SEED_MODELS = ("gpt-4", "gpt-3.5-turbo", "claude-3-sonnet-20240229", "claude-3-haiku-20240307")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with ThreadedFakeLLMServer(hang_s=2.0) as s:
        yield s


@pytest.fixture(scope="module")
def live_worker(
    kafka_bootstrap: str, server: FakeLLMServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(
        kafka_bootstrap,
        unique_prefix(),
        tmp_path_factory.mktemp("live"),
        COLDSTREAM_PROVIDERS="live",
        COLDSTREAM_ROUTING="seed",
        OPENAI_API_KEY=OPENAI_KEY,
        ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        OPENAI_BASE_URL=server.openai_url,
        ANTHROPIC_BASE_URL=server.anthropic_url,
        COLDSTREAM_BREAKER_COOLDOWN="1.0",
    ).start()
    try:
        yield proc
    finally:
        if proc.alive():
            assert proc.terminate() == 0, proc.log()[-3000:]


def leads(tag: str, companies: int, per_company: int) -> list[dict]:
    out = []
    for c in range(companies):
        domain = f"{tag}-{c}.example"
        for i in range(per_company):
            company: dict = {"name": f"Co {c}", "domain": domain}
            if c % 2 == 0:
                company["website_text"] = f"<p>Co {c} sells software to logistics teams.</p>"
            out.append(
                {
                    "lead_id": f"{tag}-{c}-{i}",
                    "campaign_id": "live",
                    "company": company,
                    "contact": {"name": f"Sam {i}", "email": f"sam{i}@{domain}"},
                }
            )
    return out


async def send(bootstrap: str, topic: str, items: list[dict]) -> set[str]:
    await produce(
        bootstrap, topic, [(x["company"]["domain"].encode(), orjson.dumps(x)) for x in items]
    )
    return {x["lead_id"] for x in items}


async def test_live_run_then_primary_outage_falls_back_for_every_lead(
    live_worker: WorkerProcess, kafka_bootstrap: str, server: FakeLLMServer
) -> None:
    p = live_worker.prefix
    await wait_for_topics(kafka_bootstrap, [p + "leads", p + "emails"])
    healthy = await send(kafka_bootstrap, p + "leads", leads("ok", 2, 3))
    emails = values(
        await read_topic(
            kafka_bootstrap,
            p + "emails",
            until=lambda rs: healthy <= {orjson.loads(r.value)["lead_id"] for r in rs},
        )
    )
    assert {e["models"]["email_final"] for e in emails if e["lead_id"] in healthy} == {"gpt-4"}
    assert not any(e["simulated"] for e in emails)

    # OpenAI goes down: every task's primary is an OpenAI model in the seed profile.
    server.fail("gpt-4", "503")
    server.fail("gpt-3.5-turbo", "503")
    ids = await send(kafka_bootstrap, p + "leads", leads("outage", 4, 3))
    emails = values(
        await read_topic(
            kafka_bootstrap,
            p + "emails",
            settle=1.0,
            until=lambda rs: ids <= {orjson.loads(r.value)["lead_id"] for r in rs},
        )
    )
    mine = [e for e in emails if e["lead_id"] in ids]
    assert len(mine) == len(ids)
    for e in mine:
        assert e["models"]["email_final"] == "claude-3-sonnet"
        assert e["models"]["classify_lead"] == "claude-3-haiku"
        assert e["models"]["subject_line"] == "claude-3-haiku"
    costs = values(
        await read_topic(
            kafka_bootstrap,
            p + "llm.costs",
            until=lambda rs: ids <= {orjson.loads(r.value)["lead_id"] for r in rs},
        )
    )
    failed_primary = [c for c in costs if c["lead_id"] in ids and c["chain_position"] == 0]
    assert failed_primary and all(
        c["outcome"] in {"server_error", "circuit_open"} for c in failed_primary
    )
    server.heal()


async def test_total_outage_sends_every_lead_to_the_task_dead_letters(
    live_worker: WorkerProcess, kafka_bootstrap: str, server: FakeLLMServer
) -> None:
    p = live_worker.prefix
    await wait_for_topics(kafka_bootstrap, [p + "leads", p + "tasks.dlq"])
    for model in SEED_MODELS:
        server.fail(model, "500")
    ids = await send(kafka_bootstrap, p + "leads", leads("down", 3, 2))
    letters = values(
        await read_topic(
            kafka_bootstrap,
            p + "tasks.dlq",
            settle=1.0,
            until=lambda rs: ids <= {orjson.loads(r.value)["job"]["lead"]["lead_id"] for r in rs},
        )
    )
    mine = [x for x in letters if x["job"]["lead"]["lead_id"] in ids]
    assert sorted(x["job"]["lead"]["lead_id"] for x in mine) == sorted(ids)  # none lost
    assert all(x["reason"] == "all_models_failed" and x["attempts"] for x in mine)
    assert {x["task"] for x in mine} <= {"clean_content", "classify_lead"}
    emails = values(
        await read_topic(kafka_bootstrap, p + "emails", until=lambda rs: True, settle=1.0)
    )
    assert not ids & {e["lead_id"] for e in emails}
    server.heal()


async def test_api_keys_never_reach_logs_or_events(
    live_worker: WorkerProcess, kafka_bootstrap: str, server: FakeLLMServer
) -> None:
    # They were used: the server saw them in the auth headers.
    seen = " ".join(" ".join(c.headers.values()) for c in server.calls)
    assert OPENAI_KEY in seen and ANTHROPIC_KEY in seen
    p = live_worker.prefix
    for topic in ("emails", "llm.costs", "tasks.dlq", "leads.dlq", "leads"):
        await wait_for_topics(kafka_bootstrap, [p + topic])
        records = await read_topic(kafka_bootstrap, p + topic, until=lambda rs: True, settle=1.0)
        blob = b"".join((r.value or b"") + (r.key or b"") for r in records)
        assert OPENAI_KEY.encode() not in blob and ANTHROPIC_KEY.encode() not in blob
    log = live_worker.log()
    assert "SECRET" not in log
    assert "live" in log


async def test_redrive_puts_task_dead_letters_back_once_the_cause_is_fixed(
    live_worker: WorkerProcess, kafka_bootstrap: str, server: FakeLLMServer
) -> None:
    import asyncio

    p = live_worker.prefix
    for model in SEED_MODELS:
        server.fail(model, "401")
    ids = await send(kafka_bootstrap, p + "leads", leads("redrive", 2, 2))
    await read_topic(
        kafka_bootstrap,
        p + "tasks.dlq",
        until=lambda rs: ids <= {orjson.loads(r.value)["job"]["lead"]["lead_id"] for r in rs},
    )
    server.heal()  # the cause is fixed
    await asyncio.sleep(1.5)  # and the breakers' cooldown (1 s here) has passed
    # While a breaker is half-open it lets one probe through and skips the rest; one lead
    # through every primary closes them before the burst, as a careful operator would.
    canary = await send(kafka_bootstrap, p + "leads", leads("canary", 1, 1))
    await read_topic(
        kafka_bootstrap,
        p + "emails",
        until=lambda rs: canary <= {orjson.loads(r.value)["lead_id"] for r in rs},
    )

    async def redrive() -> str:
        return await run_cli(live_worker.env, "dlq", "redrive", "tasks.dlq")

    first = await redrive()
    assert "redrove" in first
    emails = values(
        await read_topic(
            kafka_bootstrap,
            p + "emails",
            settle=1.0,
            until=lambda rs: ids <= {orjson.loads(r.value)["lead_id"] for r in rs},
        )
    )
    assert sorted(e["lead_id"] for e in emails if e["lead_id"] in ids) == sorted(ids)
    # A second run finds nothing new: letters are redriven once.
    assert "redrove 0 dead letters" in await redrive()
