import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from providers.retry import MAX_RETRY_AFTER_S, RetryPolicy, parse_retry_after


def test_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    when = datetime.now(UTC) + timedelta(seconds=30)
    assert parse_retry_after({"retry-after": format_datetime(when)}) == pytest.approx(30, abs=2)
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = RetryPolicy(initial_backoff_s=0.5, multiplier=2, max_backoff_s=4)
    rng = random.Random(0)
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)):
        waits = [policy.backoff(attempt, None, rng) for _ in range(200)]
        assert all(w is not None and 0 <= w <= ceiling for w in waits)
        assert max(w for w in waits if w is not None) > ceiling * 0.8


def test_server_retry_after_wins_up_to_the_cap() -> None:
    policy = RetryPolicy()
    rng = random.Random(0)
    assert policy.backoff(1, 2.0, rng) == 2.0
    assert policy.backoff(1, MAX_RETRY_AFTER_S + 1, rng) is None


def test_retry_after_date_in_the_past_means_now() -> None:
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=10))
    assert parse_retry_after({"retry-after": past}) == 0.0
    assert time.time() > 0
