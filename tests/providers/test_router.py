"""The fallback chain through the real SDKs, against a local server with injected faults."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from providers.anthropic import AnthropicProvider
from providers.breaker import BreakerPolicy, BreakerState
from providers.errors import (
    AllModelsFailed,
    AuthenticationFailed,
    CircuitOpen,
    ProviderTimeout,
    ServerError,
)
from providers.openai import OpenAIProvider
from providers.retry import RetryPolicy
from providers.router import ChainFailed, Router
from providers.routing import RoutingProfile, load_profile
from streams.prompts import parse_classification
from tests.fakes.llm_server import FakeLLMServer

PROFILE = """
name = "test"
price_version = "test-1"
[models."gpt-4"]
provider = "openai"
quality = 3
input_per_1m = 30.0
output_per_1m = 60.0
timeout_s = 0.5
[models."claude-3-sonnet"]
provider = "anthropic"
quality = 3
input_per_1m = 3.0
output_per_1m = 15.0
timeout_s = 0.5
[models."gpt-3.5-turbo"]
provider = "openai"
quality = 2
input_per_1m = 0.5
output_per_1m = 1.5
timeout_s = 0.5

[tasks.email_preview]
chain = ["gpt-3.5-turbo", "claude-3-sonnet"]
temperature = 0.7
max_tokens = 100
deadline_s = 1.0
max_attempts_per_step = 1
[tasks.email_final]
chain = ["gpt-4", "claude-3-sonnet", "gpt-3.5-turbo"]
temperature = 0.7
max_tokens = 200
deadline_s = 5.0
quality_floor = 2
[tasks.extract_business_info]
chain = ["gpt-4", "claude-3-sonnet"]
temperature = 0.1
max_tokens = 100
deadline_s = 5.0
quality_floor = 3
json_output = true
[tasks.classify_lead]
chain = ["gpt-3.5-turbo", "claude-3-sonnet"]
temperature = 0.1
max_tokens = 10
deadline_s = 5.0
json_output = true
"""


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def profile(tmp_path: Path) -> RoutingProfile:
    path = tmp_path / "test.toml"
    path.write_text(PROFILE)
    return load_profile(str(path))


@pytest.fixture
async def router(profile: RoutingProfile, llm_server: FakeLLMServer) -> AsyncIterator[Router]:
    r = make_router(profile, llm_server)
    yield r
    await r.aclose()


def make_router(profile: RoutingProfile, server: FakeLLMServer, **kw: object) -> Router:
    return Router(
        profile,
        {
            "openai": OpenAIProvider(api_key="sk-test", base_url=server.openai_url),
            "anthropic": AnthropicProvider(api_key="ak-test", base_url=server.anthropic_url),
        },
        retry=RetryPolicy(initial_backoff_s=0.01, max_backoff_s=0.02),
        rng=random.Random(1),
        **kw,  # type: ignore[arg-type]
    )


def sequence(server: FakeLLMServer) -> list[tuple[str, int]]:
    return [(c.model, c.status) for c in server.calls]


async def test_primary_answers(router: Router, llm_server: FakeLLMServer) -> None:
    result = await router.complete("email_final", system="s", prompt="p")
    assert result.model == "gpt-4" and result.chain_position == 0
    assert [a.outcome for a in result.attempts] == ["ok"]
    assert result.attempts[0].cost_usd == pytest.approx(
        (result.completion.input_tokens * 30 + result.completion.output_tokens * 60) / 1e6
    )
    assert sequence(llm_server) == [("gpt-4", 200)]


async def test_retriable_error_is_retried_on_the_same_model(
    router: Router, llm_server: FakeLLMServer
) -> None:
    llm_server.fail("gpt-4", "503", times=1)
    result = await router.complete("email_final", system="s", prompt="p")
    assert sequence(llm_server) == [("gpt-4", 503), ("gpt-4", 200)]
    assert [(a.outcome, a.attempt) for a in result.attempts] == [("server_error", 1), ("ok", 2)]


async def test_retry_after_is_honoured(router: Router, llm_server: FakeLLMServer) -> None:
    llm_server.fail("gpt-4", "429", times=1, retry_after=0.3)
    started = time.monotonic()
    result = await router.complete("email_final", system="s", prompt="p")
    assert time.monotonic() - started >= 0.3
    assert result.model == "gpt-4"
    assert sequence(llm_server) == [("gpt-4", 429), ("gpt-4", 200)]


async def test_retry_after_beyond_the_cap_moves_down_the_chain_at_once(
    router: Router, llm_server: FakeLLMServer
) -> None:
    llm_server.fail("gpt-4", "429", retry_after=120)
    started = time.monotonic()
    result = await router.complete("email_final", system="s", prompt="p")
    assert time.monotonic() - started < 1.0
    assert result.model == "claude-3-sonnet" and result.chain_position == 1
    assert sequence(llm_server) == [("gpt-4", 429), ("claude-3-sonnet", 200)]


@pytest.mark.parametrize("fault", ["401", "400", "404"])
async def test_client_errors_are_never_retried(
    router: Router, llm_server: FakeLLMServer, fault: str
) -> None:
    llm_server.fail("gpt-4", fault)
    result = await router.complete("email_final", system="s", prompt="p")
    assert sequence(llm_server) == [("gpt-4", int(fault)), ("claude-3-sonnet", 200)]
    assert result.attempts[0].outcome in {"authentication_failed", "bad_request", "not_found"}


async def test_hang_times_out_then_falls_back(router: Router, llm_server: FakeLLMServer) -> None:
    llm_server.fail("gpt-4", "hang")
    started = time.monotonic()
    result = await router.complete("email_final", system="s", prompt="p")
    elapsed = time.monotonic() - started
    # Two timed-out attempts of 0.5 s (retry fits the 5 s deadline), then the fallback.
    assert 1.0 <= elapsed < 2.5
    assert [a.outcome for a in result.attempts] == ["timeout", "timeout", "ok"]
    assert result.model == "claude-3-sonnet"


async def test_whole_chain_answers_within_the_task_deadline(
    router: Router, llm_server: FakeLLMServer
) -> None:
    llm_server.fail("gpt-3.5-turbo", "hang")
    llm_server.fail("claude-3-sonnet", "hang")
    started = time.monotonic()
    with pytest.raises(ChainFailed) as caught:
        await router.complete("email_preview", system="s", prompt="p")
    assert time.monotonic() - started < 1.0 + 0.3  # deadline_s = 1.0, plus scheduling slack
    outcomes = [a.outcome for a in caught.value.attempts]
    assert outcomes[0] == "timeout"
    assert set(outcomes[1:]) <= {"timeout", "deadline_exceeded"}


async def test_invalid_structured_output_gets_one_repair_then_next_step(
    router: Router, llm_server: FakeLLMServer
) -> None:
    llm_server.fail("gpt-3.5-turbo", "bad_json_content")
    result = await router.complete(
        "classify_lead", system="s", prompt="p", validate=parse_classification
    )
    assert result.value == "warm"
    assert [(a.model, a.outcome) for a in result.attempts] == [
        ("gpt-3.5-turbo", "invalid_output"),
        ("gpt-3.5-turbo", "invalid_output"),
        ("claude-3-sonnet", "ok"),
    ]
    # The repair attempt tells the model what was wrong.
    assert "could not be used" in llm_server.calls[1].body["messages"][-1]["content"]
    # Invalid answers were paid for: their tokens are costed.
    assert result.attempts[0].cost_usd > 0


async def test_quality_floor_is_never_crossed(router: Router, llm_server: FakeLLMServer) -> None:
    for model in ("gpt-4", "claude-3-sonnet", "gpt-3.5-turbo"):
        llm_server.fail(model, "500")
    with pytest.raises(AllModelsFailed):
        await router.complete("extract_business_info", system="s", prompt="p")
    assert "gpt-3.5-turbo" not in {c.model for c in llm_server.calls}


async def test_all_failed_is_an_exception_group_of_every_attempt(
    router: Router, llm_server: FakeLLMServer
) -> None:
    llm_server.fail("gpt-4", "500")
    llm_server.fail("claude-3-sonnet", "401")
    llm_server.fail("gpt-3.5-turbo", "503")
    with pytest.raises(ChainFailed) as caught:
        await router.complete("email_final", system="s", prompt="p")
    failure = caught.value
    assert isinstance(failure, ExceptionGroup)
    assert [type(e) for e in failure.exceptions] == [
        ServerError,
        ServerError,
        AuthenticationFailed,
        ServerError,
        ServerError,
    ]
    # One attempt record (a cost event) per HTTP call.
    assert len(failure.attempts) == len(llm_server.calls) == 5
    assert [a.chain_position for a in failure.attempts] == [0, 0, 1, 2, 2]


async def test_circuit_opens_skips_the_model_then_probes(
    profile: RoutingProfile, llm_server: FakeLLMServer
) -> None:
    clock = Clock()
    changes: list[tuple[str, str, str]] = []
    router = make_router(
        profile,
        llm_server,
        breaker=BreakerPolicy(consecutive_failures=2, cooldown_s=30),
        clock=clock,
        on_breaker_change=lambda key, old, new: changes.append((key, old.value, new.value)),
    )
    try:
        llm_server.fail("gpt-4", "500")
        await router.complete("email_final", system="s", prompt="p")  # 2 failures: opens
        assert router.breakers["gpt-4"].state is BreakerState.OPEN
        calls_before = len(llm_server.calls_for("gpt-4"))
        started = time.monotonic()
        result = await router.complete("email_final", system="s", prompt="p")
        assert time.monotonic() - started < 0.3
        assert len(llm_server.calls_for("gpt-4")) == calls_before  # skipped, no call
        assert result.attempts[0].outcome == CircuitOpen.outcome
        assert result.model == "claude-3-sonnet"

        llm_server.heal("gpt-4")
        clock.offset += 31
        result = await router.complete("email_final", system="s", prompt="p")
        assert result.model == "gpt-4"  # the probe went through and closed the circuit
        assert router.breakers["gpt-4"].state is BreakerState.CLOSED
        assert changes == [
            ("openai/gpt-4", "closed", "open"),
            ("openai/gpt-4", "open", "half_open"),
            ("openai/gpt-4", "half_open", "closed"),
        ]
    finally:
        await router.aclose()


async def test_timeout_error_type_is_typed(router: Router, llm_server: FakeLLMServer) -> None:
    llm_server.fail("gpt-4", "hang")
    llm_server.fail("claude-3-sonnet", "hang")
    llm_server.fail("gpt-3.5-turbo", "hang")
    with pytest.raises(ChainFailed) as caught:
        await router.complete("email_final", system="s", prompt="p")
    assert all(isinstance(e, ProviderTimeout) for e in caught.value.exceptions)


async def test_latency_is_the_providers_time_and_our_queue_is_counted_apart(
    tmp_path: Path, llm_server: FakeLLMServer
) -> None:
    """With one slot for the model, the second call waits for the first: that wait is ours
    (``queued_ms``), not the model's latency, which the latency report and metrics use."""
    import asyncio

    path = tmp_path / "one-slot.toml"
    path.write_text(
        PROFILE.replace(
            'timeout_s = 0.5\n[models."claude',
            'timeout_s = 0.5\nmax_in_flight = 1\n[models."claude',
            1,
        )
    )
    r = make_router(load_profile(str(path)), llm_server)
    llm_server.answer_delay_s = 0.2
    try:
        first, second = await asyncio.gather(
            r.complete("email_final", system="s", prompt="p"),
            r.complete("email_final", system="s", prompt="p"),
        )
    finally:
        await r.aclose()
    attempts = sorted((first.attempts[0], second.attempts[0]), key=lambda a: a.queued_ms)
    assert [a.model for a in attempts] == ["gpt-4", "gpt-4"]
    assert attempts[0].queued_ms < 50
    assert attempts[1].queued_ms >= 180  # waited for the first call's slot
    for a in attempts:
        assert 180 <= a.latency_ms < 400
    assert attempts[1].started_at - attempts[0].started_at >= 0.18
