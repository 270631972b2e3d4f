"""Circuit breaker per (provider, model): skip a sick model at once instead of waiting it out."""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    consecutive_failures: int = 5
    #: Also open when, over the last ``window`` calls (at least ``min_calls``), failures pass this.
    failure_ratio: float = 0.5
    window: int = 20
    min_calls: int = 10
    cooldown_s: float = 30.0


StateListener = Callable[[str, BreakerState, BreakerState], None]


class CircuitBreaker:
    def __init__(
        self,
        key: str,
        policy: BreakerPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: StateListener | None = None,
    ) -> None:
        self.key = key
        self._policy = policy
        self._clock = clock
        self._on_change = on_change
        self.state = BreakerState.CLOSED
        self._consecutive = 0
        self._recent: deque[bool] = deque(maxlen=policy.window)
        self._opened_at = 0.0
        self._probe_in_flight = False

    def allow(self) -> bool:
        """May a call go through now? In half-open state exactly one probe is let through."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._policy.cooldown_s:
                return False
            self._set(BreakerState.HALF_OPEN)
        if self._probe_in_flight:
            return False
        self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        self._probe_in_flight = False
        self._consecutive = 0
        self._recent.append(True)
        if self.state is not BreakerState.CLOSED:
            self._recent.clear()
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self._consecutive += 1
        self._recent.append(False)
        if self.state is BreakerState.HALF_OPEN or self._should_open():
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def release(self) -> None:
        """A let-through call ended without telling us anything about health."""
        self._probe_in_flight = False

    def _should_open(self) -> bool:
        if self.state is not BreakerState.CLOSED:
            return False
        if self._consecutive >= self._policy.consecutive_failures:
            return True
        calls = len(self._recent)
        if calls < self._policy.min_calls:
            return False
        failures = calls - sum(self._recent)
        return failures / calls >= self._policy.failure_ratio

    def _set(self, new: BreakerState) -> None:
        old, self.state = self.state, new
        if old is not new and self._on_change is not None:
            self._on_change(self.key, old, new)
