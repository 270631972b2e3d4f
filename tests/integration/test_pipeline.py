"""The worker end to end on a real Kafka broker, simulated providers at 1/100 time scale."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator

import orjson
import pytest

from tests.integration.helpers import (
    ROOT,
    WorkerProcess,
    produce,
    read_topic,
    run_cli,
    unique_prefix,
    values,
    wait_for_topics,
)

pytestmark = [pytest.mark.integration]

SAMPLE = ROOT / "streams" / "data" / "sample_leads.jsonl"


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    state = tmp_path_factory.mktemp("worker")
    proc = WorkerProcess(
        kafka_bootstrap, unique_prefix(), state, COLDSTREAM_MAX_WEBSITE_CHARS="20000"
    ).start()
    try:
        yield proc
    finally:
        if proc.alive():
            code = proc.terminate()
            assert code == 0, proc.log()[-3000:]


def lead(n: int, domain: str, **extra: object) -> dict:
    return {
        "lead_id": f"X-{n}",
        "campaign_id": "it",
        "company": {"name": "Acme", "domain": domain},
        "contact": {"name": f"Pat {n}", "email": f"pat{n}@{domain}"},
        **extra,
    }


async def test_sample_leads_each_yield_exactly_one_email_and_their_costs(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    p = worker.prefix
    await wait_for_topics(kafka_bootstrap, [p + "leads", p + "emails", p + "llm.costs"])
    leads = [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines()]
    for item in leads:
        item["lead_id"] = "S-" + item["lead_id"]
    await produce(
        kafka_bootstrap,
        p + "leads",
        ((x["company"]["domain"].encode(), orjson.dumps(x)) for x in leads),
    )
    ids = {x["lead_id"] for x in leads}

    emails = values(
        await read_topic(
            kafka_bootstrap,
            p + "emails",
            settle=2.0,
            until=lambda rs: ids <= {orjson.loads(r.value)["lead_id"] for r in rs},
        )
    )
    mine = [e for e in emails if e["lead_id"] in ids]
    assert Counter(e["lead_id"] for e in mine) == Counter(ids)  # each exactly once
    assert all(e["simulated"] for e in mine)
    assert Counter(e["kind"] for e in mine) == Counter(
        "preview" if x.get("preview") else "final" for x in leads
    )

    costs = values(
        await read_topic(
            kafka_bootstrap,
            p + "llm.costs",
            until=lambda rs: ids <= {orjson.loads(r.value)["lead_id"] for r in rs},
        )
    )
    by_lead: dict[str, float] = Counter()
    for c in costs:
        if c["lead_id"] in ids:
            by_lead[c["lead_id"]] += c["cost_usd"]
    for e in mine:
        assert e["cost_usd"] == pytest.approx(by_lead[e["lead_id"]], rel=1e-6, abs=1e-9)
        if e["kind"] == "final":
            assert set(e["models"]) >= {"classify_lead", "email_final", "subject_line"}
    # Company-level work ran once per company, not once per lead.
    extract_ok = [c for c in costs if c["task"] == "extract_business_info" and c["outcome"] == "ok"]
    companies_with_text = {
        x["company"]["domain"]
        for x in leads
        if x["company"].get("website_text") and not x.get("preview")
    }
    assert len(extract_ok) == len(companies_with_text)


async def test_bad_input_goes_to_the_dead_letter_topic_and_the_worker_carries_on(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    p = worker.prefix
    await wait_for_topics(kafka_bootstrap, [p + "leads"])
    good = orjson.dumps(lead(1, "ok.example"))
    bad: dict[str, bytes | None] = {
        "not json": b"hello",
        "truncated json": good[:30],
        "json null": b"null",
        "array": b"[1,2,3]",
        "empty value": b"",
        "invalid utf-8": b'{"lead_id": "\xff"}',
        "missing fields": b'{"lead_id": "X-2"}',
        "wrong types": orjson.dumps({**lead(3, "ok.example"), "lead_id": 3}),
        "invalid contact email": orjson.dumps(
            {**lead(4, "ok.example"), "contact": {"name": "N", "email": "nope"}}
        ),
    }
    await produce(
        kafka_bootstrap,
        p + "leads",
        [(b"ok.example", v) for v in bad.values()] + [(b"ok.example", good)],
    )
    letters = values(
        await read_topic(
            kafka_bootstrap, p + "leads.dlq", until=lambda rs: len(rs) >= len(bad), settle=1.0
        )
    )
    assert len(letters) == len(bad)
    assert [base64.b64decode(x["value_b64"]) for x in letters] == list(bad.values())
    assert [x["reason"] for x in letters] == [
        "invalid_json",
        "invalid_json",
        "not_an_object",
        "not_an_object",
        "empty_value",
        "invalid_utf8",
        "validation_failed",
        "validation_failed",
        "validation_failed",
    ]
    assert all(x["source_topic"] == p + "leads" and x["offset"] >= 0 for x in letters)
    # The good lead after the bad ones still gets its email: the worker did not stop.
    emails = values(
        await read_topic(
            kafka_bootstrap,
            p + "emails",
            until=lambda rs: any(orjson.loads(r.value)["lead_id"] == "X-1" for r in rs),
        )
    )
    assert [e["lead_id"] for e in emails].count("X-1") == 1
    assert worker.alive()


async def test_huge_website_text_is_cut_and_the_lead_still_gets_its_email(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    p = worker.prefix
    await wait_for_topics(kafka_bootstrap, [p + "leads"])
    huge = lead(
        10,
        "huge.example",
        company={"name": "Huge", "domain": "huge.example", "website_text": "word " * 180_000},
    )
    raw = orjson.dumps(huge)
    assert len(raw) > 900_000
    await produce(kafka_bootstrap, p + "leads", [(b"huge.example", raw)])
    emails = values(
        await read_topic(
            kafka_bootstrap,
            p + "emails",
            until=lambda rs: any(orjson.loads(r.value)["lead_id"] == "X-10" for r in rs),
        )
    )
    assert any(e["lead_id"] == "X-10" for e in emails)
    costs = values(
        await read_topic(
            kafka_bootstrap,
            p + "llm.costs",
            until=lambda rs: any(
                orjson.loads(r.value)["company_domain"] == "huge.example"
                and orjson.loads(r.value)["task"] == "clean_content"
                for r in rs
            ),
        )
    )
    clean = [
        c
        for c in costs
        if c["company_domain"] == "huge.example"
        and c["task"] == "clean_content"
        and c["outcome"] == "ok"
    ]
    # 900 KB is ~225k tokens; the model saw at most the task's input limit.
    assert clean and all(c["input_tokens"] <= 3100 for c in clean)


async def test_temperatures_of_one_company_are_distinct_and_inside_the_band(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    p = worker.prefix
    await wait_for_topics(kafka_bootstrap, [p + "leads"])
    leads = [lead(100 + i, "band.example") for i in range(10)]
    await produce(kafka_bootstrap, p + "leads", [(b"band.example", orjson.dumps(x)) for x in leads])
    ids = {x["lead_id"] for x in leads}
    emails = [
        e
        for e in values(
            await read_topic(
                kafka_bootstrap,
                p + "emails",
                until=lambda rs: ids <= {orjson.loads(r.value)["lead_id"] for r in rs},
            )
        )
        if e["lead_id"] in ids
    ]
    temps = [e["temperature"] for e in emails]
    assert len(set(temps)) == 10
    assert all(0.7 - 0.075 - 1e-9 <= t <= 0.7 + 0.075 + 1e-9 for t in temps)


def test_worker_log_mentions_simulated_mode(worker: WorkerProcess) -> None:
    assert "SIMULATED" in worker.log() or "simulated" in worker.log()


async def test_metrics_endpoint_serves_the_documented_series(worker: WorkerProcess) -> None:
    import aiohttp

    url = f"http://127.0.0.1:{worker.env['COLDSTREAM_WEB_PORT']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        text = await response.text()
    for series in (
        "coldstream_llm_calls_total",
        "coldstream_llm_failures_total",
        "coldstream_llm_latency_seconds_bucket",
        "coldstream_llm_cost_usd_total",
        "coldstream_llm_in_flight",
        "coldstream_circuit_state",
        "coldstream_dead_letters_total",
        "coldstream_emails_total",
    ):
        assert series in text, series
    assert 'coldstream_dead_letters_total{reason="invalid_json",topic="leads.dlq"} 2.0' in text


async def test_ready_endpoint_answers_200_once_the_worker_has_its_partitions(
    worker: WorkerProcess,
) -> None:
    import asyncio

    import aiohttp

    url = f"http://127.0.0.1:{worker.env['COLDSTREAM_WEB_PORT']}/ready"
    answers: list[tuple[int, str]] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(url) as response:
                    answers.append((response.status, await response.text()))
            except aiohttp.ClientConnectionError:
                pass  # the web server is not up yet
            if answers and answers[-1][0] == 200:
                break
            await asyncio.sleep(0.2)
    assert answers[-1] == (200, "ready\n")
    # Anything before that was a 503 with its reason, never another status.
    assert all(status == 503 and text.strip() for status, text in answers[:-1])


async def cli(worker: WorkerProcess, *args: str) -> str:
    return await run_cli(worker.env, *args)


async def test_cost_and_latency_reports_add_up_to_the_events(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    p = worker.prefix
    events = values(
        await read_topic(kafka_bootstrap, p + "llm.costs", until=lambda rs: True, settle=1.0)
    )
    assert events
    summary = orjson.loads(await cli(worker, "report", "costs", "--format", "json"))
    assert summary["calls"] == len(events)
    assert summary["total_usd"] == pytest.approx(sum(e["cost_usd"] for e in events))
    assert summary["failed_calls"] == sum(e["outcome"] != "ok" for e in events)
    latency = orjson.loads(await cli(worker, "report", "latency", "--format", "json"))
    assert sum(m["calls"] for m in latency["models"]) == sum(e["outcome"] == "ok" for e in events)
    table = await cli(worker, "report", "costs")
    assert "TOTAL" in table and "for everything" in table


async def test_replay_answers_from_stored_results_and_force_makes_a_new_generation(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    p = worker.prefix
    leads = [lead(300 + i, "replay.example") for i in range(3)]
    ids = {x["lead_id"] for x in leads}
    await produce(
        kafka_bootstrap, p + "leads", [(b"replay.example", orjson.dumps(x)) for x in leads]
    )

    def emails_for(rs: list, lead_id: str) -> list[dict]:
        return [v for v in values(rs) if v["lead_id"] == lead_id]

    first = values(
        await read_topic(
            kafka_bootstrap,
            p + "emails",
            until=lambda rs: ids <= {orjson.loads(r.value)["lead_id"] for r in rs},
        )
    )
    original = {e["lead_id"]: e for e in first if e["lead_id"] in ids}

    async def model_calls(lead_id: str) -> int:
        costs = values(
            await read_topic(kafka_bootstrap, p + "llm.costs", until=lambda rs: True, settle=1.0)
        )
        return sum(c["lead_id"] == lead_id for c in costs)

    calls_before = await model_calls("X-300")
    assert calls_before >= 3
    dry = await cli(worker, "replay", "--lead-id", "X-300", "--lead-id", "X-301", "--dry-run")
    assert "2 records match" in dry
    await cli(worker, "replay", "--lead-id", "X-300")
    records = await read_topic(
        kafka_bootstrap, p + "emails", until=lambda rs: len(emails_for(rs, "X-300")) >= 2
    )
    replayed = emails_for(records, "X-300")[-1]
    assert replayed["replay_id"] and replayed["generation"] == 1
    assert replayed["body"] == original["X-300"]["body"]
    assert await model_calls("X-300") == calls_before  # no new model call

    await cli(worker, "replay", "--lead-id", "X-300", "--force")
    records = await read_topic(
        kafka_bootstrap, p + "emails", until=lambda rs: len(emails_for(rs, "X-300")) >= 3
    )
    forced = emails_for(records, "X-300")[-1]
    assert forced["generation"] == 2 and forced["replay_id"]
    costs = values(
        await read_topic(kafka_bootstrap, p + "llm.costs", until=lambda rs: True, settle=1.0)
    )
    regenerated = [c for c in costs if c["lead_id"] == "X-300" and c["generation"] == 2]
    assert {c["task"] for c in regenerated} == {"classify_lead", "email_final", "subject_line"}
    # The temperature position is the lead's own, so the regenerated email keeps its band spot.
    assert forced["temperature"] == original["X-300"]["temperature"]


async def test_leads_dead_letters_are_redriven_byte_for_byte(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    p = worker.prefix
    before = values(
        await read_topic(kafka_bootstrap, p + "leads.dlq", until=lambda rs: True, settle=1.0)
    )
    invalid_json = [x for x in before if x["reason"] == "invalid_json"]
    assert invalid_json
    out = await cli(worker, "dlq", "redrive", "leads.dlq", "--reason", "invalid_json")
    assert f"redrove {len(invalid_json)} dead letters" in out
    after = values(
        await read_topic(
            kafka_bootstrap,
            p + "leads.dlq",
            until=lambda rs: len(rs) >= len(before) + len(invalid_json),
        )
    )
    again = after[len(before) :]
    # The same bytes went back into `leads` and, still invalid, came back the same way.
    assert sorted(x["value_b64"] for x in again) == sorted(x["value_b64"] for x in invalid_json)
    leads = await read_topic(kafka_bootstrap, p + "leads", until=lambda rs: True, settle=1.0)
    redriven = [r for r in leads if any(k == "coldstream-redrive-id" for k, _ in r.headers)]
    assert len(redriven) == len(invalid_json)
