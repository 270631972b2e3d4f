from providers.breaker import BreakerPolicy, BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(**kw: float) -> tuple[CircuitBreaker, Clock, list[tuple[str, str]]]:
    clock = Clock()
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        "openai/gpt-4",
        BreakerPolicy(**kw),  # type: ignore[arg-type]
        clock=clock,
        on_change=lambda key, old, new: changes.append((old.value, new.value)),
    )
    return breaker, clock, changes


def test_opens_after_consecutive_failures_then_probes_once_after_cooldown() -> None:
    breaker, clock, changes = make(consecutive_failures=3, cooldown_s=10)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    breaker, clock, _ = make(consecutive_failures=1, cooldown_s=5)
    breaker.allow()
    breaker.record_failure()
    clock.now = 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 9
    assert not breaker.allow()
    clock.now = 10
    assert breaker.allow()


def test_opens_on_failure_ratio_without_a_long_streak() -> None:
    breaker, _, _ = make(consecutive_failures=100, failure_ratio=0.5, window=10, min_calls=10)
    for i in range(10):
        breaker.allow()
        breaker.record_failure() if i % 2 else breaker.record_success()
    assert breaker.state is BreakerState.OPEN


def test_success_resets_the_streak() -> None:
    breaker, _, _ = make(consecutive_failures=3, min_calls=1000)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
