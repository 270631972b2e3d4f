"""The token bucket never lets a 60-second window exceed the configured rate."""

from __future__ import annotations

import asyncio
import bisect

import pytest

from providers.ratelimit import ModelLimiter, TokenBucket


class FakeTime:
    """A clock that only moves when someone sleeps: 1,000 calls finish in no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_right(times, t + window - 1e-9) - i for i, t in enumerate(times))


@pytest.mark.parametrize("rpm", [60, 600, 3000])
async def test_burst_of_1000_calls_stays_under_the_rpm(rpm: int) -> None:
    fake = FakeTime()
    bucket = TokenBucket(rpm, clock=fake.clock, sleep=fake.sleep)
    granted: list[float] = []

    async def call() -> None:
        await bucket.acquire()
        granted.append(fake.now)

    await asyncio.gather(*(call() for _ in range(1000)))
    assert len(granted) == 1000
    assert max_in_any_window(granted, 60.0) <= rpm
    # ...and it uses the allowance: after the initial burst B, calls come at (rpm - B)/min.
    burst = max(1, rpm / 60)
    assert granted[-1] == pytest.approx((1000 - burst) * 60 / (rpm - burst), rel=0.01)


async def test_tokens_per_minute_are_limited_too() -> None:
    fake = FakeTime()
    limiter = ModelLimiter(None, 6000, clock=fake.clock, sleep=fake.sleep)
    granted: list[float] = []

    async def call() -> None:
        await limiter.acquire(100)
        granted.append(fake.now)

    await asyncio.gather(*(call() for _ in range(300)))  # 30,000 tokens at 6,000/min
    assert max_in_any_window(granted, 60.0) * 100 <= 6000
    assert granted[-1] >= 4 * 60 - 1
