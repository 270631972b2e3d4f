"""Budgets hold under concurrency: reserve worst case first, settle real cost after."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from pathlib import Path

import pytest

from providers.anthropic import AnthropicProvider
from providers.budget import GLOBAL, BudgetLedger
from providers.errors import BudgetExceeded
from providers.openai import OpenAIProvider
from providers.retry import RetryPolicy
from providers.router import Router
from providers.routing import load_profile
from tests.fakes.llm_server import FakeLLMServer

PROFILE = """
name = "budget-test"
price_version = "t"
daily_budget_usd = {global_cap}
[models."big"]
provider = "openai"
quality = 3
input_per_1m = 50.0
output_per_1m = 50.0
[models."small"]
provider = "anthropic"
quality = 3
input_per_1m = 5.0
output_per_1m = 5.0
[tasks.email_preview]
chain = ["big"]
temperature = 0.7
max_tokens = 100
max_input_tokens = 100
deadline_s = 10
[tasks.email_final]
chain = ["big", "small"]
temperature = 0.7
max_tokens = 100
max_input_tokens = 100
deadline_s = 10
budget_action = "{action}"
daily_budget_usd = {task_cap}
"""


def router_for(
    tmp_path: Path,
    server: FakeLLMServer,
    *,
    action: str,
    task_cap: float,
    global_cap: float = 100.0,
) -> Router:
    path = tmp_path / "p.toml"
    path.write_text(PROFILE.format(action=action, task_cap=task_cap, global_cap=global_cap))
    profile = load_profile(str(path))
    ledger = BudgetLedger(
        daily_usd=profile.daily_budget_usd, task_daily_usd={"email_final": task_cap}
    )
    return Router(
        profile,
        {
            "openai": OpenAIProvider(api_key="k", base_url=server.openai_url, max_in_flight=300),
            "anthropic": AnthropicProvider(api_key="k", base_url=server.anthropic_url),
        },
        retry=RetryPolicy(initial_backoff_s=0.01),
        rng=random.Random(0),
        budget=ledger,
    )


async def test_200_concurrent_calls_never_overspend_the_cap(
    tmp_path: Path, llm_server: FakeLLMServer
) -> None:
    # Worst case per call: (100 + 100 tokens) * $50/1M = $0.01. Cap $0.45: 45 fit at once.
    router = router_for(tmp_path, llm_server, action="pause", task_cap=0.45)
    try:
        results = await asyncio.gather(
            *(router.complete("email_final", system="s", prompt="p" * 100) for _ in range(200)),
            return_exceptions=True,
        )
    finally:
        await router.aclose()
    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(admitted) + len(refused) == 200
    assert len(admitted) == 45 and len(llm_server.calls) == 45
    spent = sum(r.cost_usd for r in admitted)
    assert 0 < spent <= 0.45
    assert router.budget is not None
    assert router.budget.spent("email_final") == pytest.approx(spent)
    assert router.budget.remaining("email_final") == pytest.approx(0.45 - spent)


async def test_litellm_race_five_concurrent_against_a_cap_of_three(
    tmp_path: Path, llm_server: FakeLLMServer
) -> None:
    router = router_for(tmp_path, llm_server, action="pause", task_cap=0.03)
    try:
        results = await asyncio.gather(
            *(router.complete("email_final", system="s", prompt="p") for _ in range(5)),
            return_exceptions=True,
        )
    finally:
        await router.aclose()
    assert sum(not isinstance(r, BaseException) for r in results) == 3


async def test_degrade_takes_the_cheaper_step_that_fits(
    tmp_path: Path, llm_server: FakeLLMServer
) -> None:
    # $0.005 left: "big" (worst $0.01) does not fit, "small" (worst $0.001) does.
    router = router_for(tmp_path, llm_server, action="degrade", task_cap=0.005)
    try:
        result = await router.complete("email_final", system="s", prompt="p")
    finally:
        await router.aclose()
    assert result.model == "small"
    assert [(a.model, a.outcome) for a in result.attempts] == [
        ("big", "budget_exceeded"),
        ("small", "ok"),
    ]
    assert [c.model for c in llm_server.calls] == ["small"]


async def test_degrade_with_nothing_that_fits_pauses_instead_of_dropping(
    tmp_path: Path, llm_server: FakeLLMServer
) -> None:
    router = router_for(tmp_path, llm_server, action="degrade", task_cap=0.0005)
    try:
        with pytest.raises(BudgetExceeded):
            await router.complete("email_final", system="s", prompt="p")
    finally:
        await router.aclose()
    assert llm_server.calls == []


async def test_global_cap_applies_across_tasks(tmp_path: Path, llm_server: FakeLLMServer) -> None:
    router = router_for(tmp_path, llm_server, action="pause", task_cap=10, global_cap=0.02)
    try:
        await router.complete("email_preview", system="s", prompt="p")
        await router.complete("email_final", system="s", prompt="p")
        with pytest.raises(BudgetExceeded) as caught:
            await asyncio.gather(
                *(router.complete("email_preview", system="s", prompt="p") for _ in range(3))
            )
    finally:
        await router.aclose()
    assert caught.value.scope == GLOBAL


async def test_wait_for_room_resumes_on_a_new_day() -> None:
    day = [dt.date(2026, 1, 1)]
    ledger = BudgetLedger(
        daily_usd=1.0, task_daily_usd={}, today=lambda: day[0], spent_today={"email_final": 1.0}
    )
    with pytest.raises(BudgetExceeded):
        ledger.reserve("email_final", 0.1)
    waiter = asyncio.create_task(ledger.wait_for_room("email_final", 0.1, poll_s=0.05))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    day[0] = dt.date(2026, 1, 2)
    await asyncio.wait_for(waiter, 1)
    assert ledger.spent() == 0.0
