"""Stage logic without Kafka: the real SDK providers against the local wire-protocol server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from providers.anthropic import AnthropicProvider
from providers.openai import OpenAIProvider
from providers.retry import RetryPolicy
from providers.router import Router
from providers.routing import load_profile
from streams.stages import Stages, parse_lead, start_job
from tests.fakes.llm_server import FakeLLMServer
from topics.schemas import LeadJob, SourceRef

SOURCE = SourceRef(topic="tasks.x", partition=0, offset=0)


def lead_bytes(n: int, domain: str = "acme.example", text: str | None = "<p>We ship</p>") -> bytes:
    company: dict[str, Any] = {"name": "Acme", "domain": domain}
    if text is not None:
        company["website_text"] = text
    return orjson.dumps(
        {
            "lead_id": f"L-{n}",
            "campaign_id": "c1",
            "company": company,
            "contact": {"name": f"Person {n}", "email": f"p{n}@acme.example"},
        }
    )


def job_for(n: int, **kw: Any) -> LeadJob:
    _, job = start_job(
        parse_lead(lead_bytes(n, **kw)), ordinal=n, max_website_chars=5000, source=None
    )
    return job


@pytest.fixture
async def stages(llm_server: FakeLLMServer) -> AsyncIterator[Stages]:
    router = Router(
        load_profile("seed"),
        {
            "openai": OpenAIProvider(api_key="sk-test", base_url=llm_server.openai_url),
            "anthropic": AnthropicProvider(api_key="ak-test", base_url=llm_server.anthropic_url),
        },
        retry=RetryPolicy(initial_backoff_s=0.01, max_backoff_s=0.02),
    )
    yield Stages(router)
    await router.aclose()


async def run_lead(stages: Stages, job: LeadJob, store: dict[str, Any]) -> Any:
    stage: str | None = "clean_content"
    costs = []
    while stage is not None:
        out = await stages.run(stage, job, store, SOURCE)
        costs += out.costs
        assert out.dead_letter is None, out.dead_letter
        if out.email is not None:
            return out.email, costs
        stage, job = out.next_stage, out.job  # type: ignore[assignment]
    raise AssertionError("no email")


async def test_lead_walks_all_stages_into_one_email(
    stages: Stages, llm_server: FakeLLMServer
) -> None:
    email, costs = await run_lead(stages, job_for(1), {})
    assert email.lead_id == "L-1" and email.kind == "final"
    assert email.classification == "warm"
    assert email.body.startswith("Hello from gpt-4")
    assert email.subject.startswith("Hello from gpt-3.5-turbo")
    assert email.models == {
        "clean_content": "gpt-3.5-turbo",
        "extract_business_info": "gpt-4",
        "classify_lead": "gpt-3.5-turbo",
        "email_final": "gpt-4",
        "subject_line": "gpt-3.5-turbo",
    }
    assert [c.task for c in costs] == [
        "clean_content",
        "extract_business_info",
        "classify_lead",
        "email_final",
        "subject_line",
    ]
    # Company-level calls carry no lead; the email's cost is its own lead-level calls.
    assert [c.lead_id for c in costs[:2]] == [None, None]
    assert email.cost_usd == pytest.approx(sum(c.cost_usd for c in costs[2:]))
    assert not email.simulated
    # The temperature sent to the model is the one reported.
    final_call = next(
        c
        for c in llm_server.calls
        if c.model == "gpt-4" and "TEXT" not in c.body["messages"][-1]["content"]
    )
    assert final_call.body["temperature"] == email.temperature


async def test_company_work_runs_once_for_concurrent_leads(
    stages: Stages, llm_server: FakeLLMServer
) -> None:
    store: dict[str, Any] = {}
    results = await asyncio.gather(*(run_lead(stages, job_for(n), store) for n in range(10)))
    clean_calls = [
        c for c in llm_server.calls if "clean scraped" in c.body["messages"][0]["content"]
    ]
    extract_calls = [
        c for c in llm_server.calls if "extract facts" in c.body["messages"][0]["content"]
    ]
    assert len(clean_calls) == 1 and len(extract_calls) == 1
    company_costs = [c for _, costs in results for c in costs if c.lead_id is None]
    assert len(company_costs) == 2  # paid once, by one lead
    assert {e.models["extract_business_info"] for e, _ in results} == {"gpt-4"}


async def test_new_website_content_is_a_new_company_version(
    stages: Stages, llm_server: FakeLLMServer
) -> None:
    store: dict[str, Any] = {}
    await run_lead(stages, job_for(1), store)
    await run_lead(stages, job_for(2), store)
    await run_lead(stages, job_for(3, text="<p>We pivoted to robots</p>"), store)
    extract_calls = [
        c for c in llm_server.calls if "extract facts" in c.body["messages"][0]["content"]
    ]
    assert len(extract_calls) == 2


async def test_without_website_text_no_company_calls_are_made(
    stages: Stages, llm_server: FakeLLMServer
) -> None:
    email, costs = await run_lead(stages, job_for(1, text=None), {})
    assert [c.task for c in costs] == ["classify_lead", "email_final", "subject_line"]
    assert "clean_content" not in email.models


async def test_exhausted_chain_becomes_a_task_dead_letter_with_every_attempt(
    stages: Stages, llm_server: FakeLLMServer
) -> None:
    for model in ("gpt-3.5-turbo", "claude-3-haiku-20240307"):
        llm_server.fail(model, "401")
    job = job_for(1, text=None)
    out = await stages.run("classify_lead", job, {}, SOURCE)
    assert out.email is None and out.job is None
    letter = out.dead_letter
    assert letter is not None and letter.task == "classify_lead"
    assert letter.reason == "all_models_failed"
    assert [(a.model, a.outcome) for a in letter.attempts] == [
        ("gpt-3.5-turbo", "authentication_failed"),
        ("claude-3-haiku", "authentication_failed"),
    ]
    assert letter.job is not None and letter.job.lead.lead_id == "L-1"
    assert len(out.costs) == 2 and all(c.outcome != "ok" for c in out.costs)


async def test_a_redelivered_lead_reuses_stored_results_and_pays_nothing(
    stages: Stages, llm_server: FakeLLMServer
) -> None:
    store: dict[str, Any] = {}
    first, _ = await run_lead(stages, job_for(1), store)
    calls = len(llm_server.calls)
    again, again_costs = await run_lead(stages, job_for(1), store)
    assert len(llm_server.calls) == calls  # no model call
    assert again_costs == []  # nothing new to pay for
    assert (again.body, again.subject, again.cost_usd, again.temperature) == (
        first.body,
        first.subject,
        first.cost_usd,
        first.temperature,
    )
    assert again.generation == first.generation == 1


async def test_a_new_generation_calls_the_models_again_but_not_company_work(
    stages: Stages, llm_server: FakeLLMServer
) -> None:
    store: dict[str, Any] = {}
    await run_lead(stages, job_for(1), store)
    calls = len(llm_server.calls)
    job = job_for(1)
    job.generation = 2
    email, costs = await run_lead(stages, job, store)
    assert email.generation == 2
    assert [c.task for c in costs] == ["classify_lead", "email_final", "subject_line"]
    assert len(llm_server.calls) == calls + 3


async def test_a_redelivered_final_stage_does_not_resend_a_published_email(
    stages: Stages, llm_server: FakeLLMServer
) -> None:
    from streams.stages import emitted_key

    store: dict[str, Any] = {}
    email, _ = await run_lead(stages, job_for(1), store)
    job = job_for(1)
    store[emitted_key(job)] = True  # what the agent records after publishing
    stage: str | None = "clean_content"
    while stage is not None:
        out = await stages.run(stage, job, store, SOURCE)
        if out.next_stage is None:
            assert out.email is None and out.already_emitted
            break
        stage, job = out.next_stage, out.job  # type: ignore[assignment]
    job.replay_id = "r1"  # a replay does re-emit, from the stored results
    replayed = await stages.run("subject_line", job, store, SOURCE)
    assert replayed.email is not None and replayed.email.body == email.body


async def test_pause_holds_the_event_until_budget_room_returns(
    llm_server: FakeLLMServer,
) -> None:
    import datetime as dt

    from providers.budget import BudgetLedger

    day = [dt.date(2026, 1, 1)]
    ledger = BudgetLedger(
        daily_usd=None,
        task_daily_usd={"classify_lead": 0.01},
        today=lambda: day[0],
        spent_today={"classify_lead": 0.01},
    )
    router = Router(
        load_profile("seed"),
        {
            "openai": OpenAIProvider(api_key="sk-test", base_url=llm_server.openai_url),
            "anthropic": AnthropicProvider(api_key="ak-test", base_url=llm_server.anthropic_url),
        },
        budget=ledger,
    )
    try:
        stages = Stages(router)
        # The seed profile's classify_lead uses the default action: pause.
        running = asyncio.create_task(
            stages.run("classify_lead", job_for(1, text=None), {}, SOURCE)
        )
        await asyncio.sleep(0.3)
        assert not running.done() and llm_server.calls == []  # held, nothing dropped or sent
        day[0] = dt.date(2026, 1, 2)  # a new budget day
        ledger._changed.set()  # wake the waiter now instead of at its next poll
        out = await asyncio.wait_for(running, 5)
    finally:
        await router.aclose()
    assert out.job is not None and out.job.classification == "warm"
    assert len(llm_server.calls) == 1
