"""Retry policy. Every retry constant of the project lives here."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

#: Attempts per chain step, the first included. Small on purpose: falling back to the next
#: model beats hammering a sick one (LiteLLM's minutes-long failovers come from the opposite).
DEFAULT_MAX_ATTEMPTS_PER_STEP = 2
INITIAL_BACKOFF_S = 0.5
BACKOFF_MULTIPLIER = 2.0
MAX_BACKOFF_S = 8.0
#: A server asking for a longer wait than this is treated as "not now": move down the chain.
MAX_RETRY_AFTER_S = 20.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts_per_step: int = DEFAULT_MAX_ATTEMPTS_PER_STEP
    initial_backoff_s: float = INITIAL_BACKOFF_S
    multiplier: float = BACKOFF_MULTIPLIER
    max_backoff_s: float = MAX_BACKOFF_S
    max_retry_after_s: float = MAX_RETRY_AFTER_S

    def backoff(self, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before retry number ``attempt`` (1-based), or None for "do not retry".

        A server's ``Retry-After`` wins when present, up to the cap; above the cap we give up
        on this model. Otherwise exponential backoff with full jitter.
        """
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_s else None
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (attempt - 1))
        return rng.uniform(0, ceiling)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (delta seconds or HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())
