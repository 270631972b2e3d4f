"""Per-call metrics: each attempt lands in the series of its task, model and outcome."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families

from providers.router import Attempt
from streams.metrics import Metrics

OK = Attempt(
    call_id="c",
    request_id="r",
    task="classify_lead",
    provider="openai",
    model="gpt-4.1-mini",
    temperature=0.2,
    max_tokens=50,
    attempt=1,
    chain_position=0,
    outcome="ok",
    error=None,
    input_tokens=100,
    output_tokens=10,
    cost_usd=0.001,
    latency_ms=500.0,
    queued_ms=0.0,
    estimated_tokens=False,
    simulated=False,
    price_version="v",
    started_at=0.0,
)


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_attempts_are_counted_by_outcome_with_latency_cost_fallbacks_and_timeouts() -> None:
    metrics = Metrics()
    fallback = replace(OK, model="claude-3-5-haiku", provider="anthropic", chain_position=1)
    timeout = replace(OK, outcome="timeout", cost_usd=0.0)
    for attempt in (OK, OK, timeout, fallback, timeout, OK):
        metrics.on_attempt(attempt)
    samples = _samples(metrics)
    mini = (("model", "gpt-4.1-mini"), ("provider", "openai"), ("task", "classify_lead"))
    haiku = (("model", "claude-3-5-haiku"), ("provider", "anthropic"), ("task", "classify_lead"))

    def calls(labels: tuple[tuple[str, str], ...], outcome: str) -> float:
        return samples[
            ("coldstream_llm_calls_total", tuple(sorted((*labels, ("outcome", outcome)))))
        ]

    assert calls(mini, "ok") == 3
    assert calls(mini, "timeout") == 2
    assert calls(haiku, "ok") == 1
    assert samples[("coldstream_llm_failures_total", mini)] == 2
    assert samples[("coldstream_llm_timeouts_total", mini)] == 2
    assert samples.get(("coldstream_llm_fallbacks_total", mini), 0) == 0
    assert samples[("coldstream_llm_fallbacks_total", haiku)] == 1
    cost = (("model", "gpt-4.1-mini"), ("task", "classify_lead"))
    assert abs(samples[("coldstream_llm_cost_usd_total", cost)] - 0.003) < 1e-12
    latency = (("model", "gpt-4.1-mini"), ("provider", "openai"))
    assert samples[("coldstream_llm_latency_seconds_count", latency)] == 3
    assert samples[("coldstream_llm_latency_seconds_sum", latency)] == 1.5
