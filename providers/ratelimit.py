"""Token-bucket limits per model: requests and tokens per minute, from the routing profile.

The bucket's burst and refill are chosen so that no 60-second window ever holds more than the
configured amount: burst ``B = max(1, limit/60)`` and refill ``(limit - B)/60`` per second,
so ``B + 60·refill = limit``. A 429 storm from our own traffic is therefore a bug.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.capacity = max(1.0, per_minute / 60)
        self.rate = (per_minute - self.capacity) / 60  # per second
        self._clock = clock
        self._sleep = sleep
        self._level = self.capacity
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until ``amount`` fits; first come, first served (the lock keeps FIFO order)."""
        amount = min(amount, self.capacity)  # a request larger than the burst waits for a full one
        async with self._lock:
            while True:
                self._refill()
                if self._level >= amount - 1e-9:  # float dust must not stall the queue
                    self._level -= amount
                    return
                if self.rate <= 0:
                    raise ValueError("a limit below one per second cannot refill")
                await self._sleep((amount - self._level) / self.rate)


class ModelLimiter:
    """RPM and TPM buckets of one model; either may be absent."""

    def __init__(self, rpm: int | None, tpm: int | None, **kw: object) -> None:
        self.requests = TokenBucket(rpm, **kw) if rpm else None  # type: ignore[arg-type]
        self.tokens = TokenBucket(tpm, **kw) if tpm else None  # type: ignore[arg-type]

    async def acquire(self, tokens: int) -> None:
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            await self.tokens.acquire(tokens)
