"""Prometheus metrics, served by the worker at ``/metrics`` on its web port.

One :class:`Metrics` object with its own registry is built per worker and handed to what
reports into it; nothing registers into a process-global registry.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from providers.breaker import BreakerState
from providers.router import Attempt

_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 8, 12, 20, 30, 60)


class _AttemptSeries:
    __slots__ = ("calls", "cost", "failures", "fallbacks", "latency", "timeouts")

    def __init__(self, m: Metrics, task: str, provider: str, model: str, outcome: str) -> None:
        ok = outcome == "ok"
        self.calls = m.calls.labels(task, provider, model, outcome)
        self.latency = m.latency.labels(provider, model) if ok else None
        self.fallbacks = m.fallbacks.labels(task, provider, model) if ok else None
        self.failures = None if ok else m.failures.labels(task, provider, model)
        self.timeouts = m.timeouts.labels(task, provider, model) if outcome == "timeout" else None
        self.cost = m.cost.labels(task, model)


class Metrics:
    # aiohttp takes the charset apart from the content type.
    content_type = CONTENT_TYPE_LATEST.split(";  charset")[0].split("; charset")[0]

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        labels = ("task", "provider", "model")
        self.calls = Counter(
            "coldstream_llm_calls",
            "Model call attempts by outcome.",
            (*labels, "outcome"),
            registry=r,
        )
        self.failures = Counter(
            "coldstream_llm_failures", "Failed model call attempts.", labels, registry=r
        )
        self.timeouts = Counter(
            "coldstream_llm_timeouts", "Attempts that timed out.", labels, registry=r
        )
        self.fallbacks = Counter(
            "coldstream_llm_fallbacks",
            "Tasks answered by a chain step after the primary.",
            labels,
            registry=r,
        )
        self.latency = Histogram(
            "coldstream_llm_latency_seconds",
            "Latency of successful model calls.",
            ("provider", "model"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cost = Counter(
            "coldstream_llm_cost_usd", "Spend on model calls (USD).", ("task", "model"), registry=r
        )
        self.in_flight = Gauge("coldstream_llm_in_flight", "Model calls in flight.", registry=r)
        self.budget_remaining = Gauge(
            "coldstream_budget_remaining_usd",
            "Budget left today (USD); scope '*' is the global cap.",
            ("scope",),
            registry=r,
        )
        self.circuit = Gauge(
            "coldstream_circuit_state",
            "Breaker state: 0 closed, 1 half-open, 2 open.",
            ("breaker",),
            registry=r,
        )
        self.circuit_changes = Counter(
            "coldstream_circuit_transitions",
            "Breaker state changes.",
            ("breaker", "to"),
            registry=r,
        )
        self.dead_letters = Counter(
            "coldstream_dead_letters", "Records sent to a DLQ.", ("topic", "reason"), registry=r
        )
        self.emails = Counter("coldstream_emails", "Emails published.", ("kind",), registry=r)
        # Labelled children per (task, provider, model, outcome): ``labels()`` takes a lock
        # and builds a key on every call, and this runs for every model call.
        self._attempt_series: dict[tuple[str, str, str, str], _AttemptSeries] = {}

    def on_attempt(self, a: Attempt) -> None:
        key = (a.task, a.provider, a.model, a.outcome)
        series = self._attempt_series.get(key)
        if series is None:
            series = self._attempt_series[key] = _AttemptSeries(self, *key)
        series.calls.inc()
        if series.latency is not None:
            series.latency.observe(a.latency_ms / 1000)
        if series.fallbacks is not None and a.chain_position > 0:
            series.fallbacks.inc()
        if series.failures is not None:
            series.failures.inc()
        if series.timeouts is not None:
            series.timeouts.inc()
        if a.cost_usd:
            series.cost.inc(a.cost_usd)

    def on_breaker_change(self, key: str, old: BreakerState, new: BreakerState) -> None:
        self.circuit.labels(key).set(_BREAKER_VALUE[new])
        self.circuit_changes.labels(key, new.value).inc()

    def track_in_flight(self, read: Callable[[], float]) -> None:
        self.in_flight.set_function(read)

    def track_budget(self, scope: str, read: Callable[[], float | None]) -> None:
        self.budget_remaining.labels(scope).set_function(lambda: read() or 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
