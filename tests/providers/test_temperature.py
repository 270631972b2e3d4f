import itertools

import pytest

from providers.temperature import (
    SPREAD,
    batch_temperature,
    seed_batch_temperature,
    spread,
    stream_position,
    stream_temperature,
)


def test_batch_spread_is_linear_from_low_to_high_edge() -> None:
    temps = [batch_temperature(0.7, i, 10) for i in range(10)]
    assert temps[0] == pytest.approx(0.625)
    assert temps[-1] == pytest.approx(0.775)
    steps = [b - a for a, b in itertools.pairwise(temps)]
    assert steps == pytest.approx([0.15 / 9] * 9, abs=2e-6)


def test_batch_of_one_gets_the_base() -> None:
    assert batch_temperature(0.7, 0, 1) == 0.7


def test_band_is_clamped_to_valid_range() -> None:
    assert batch_temperature(0.98, 9, 10) == 1.0
    assert batch_temperature(0.9, 9, 10) == pytest.approx(0.975)


def test_deterministic_tasks_are_not_spread() -> None:
    assert batch_temperature(0.1, 0, 10) == 0.1
    assert batch_temperature(0.1, 9, 10) == 0.1


def test_seed_function_never_reaches_the_top_of_its_band() -> None:
    # The write-up's function tops out at base + 0.075*(n-2)/n, not base + 0.075.
    n = 10
    assert seed_batch_temperature(0.7, n - 1, n) == pytest.approx(0.7 + SPREAD * (n - 2) / n)
    assert seed_batch_temperature(0.7, 0, n) == pytest.approx(0.625)


def test_stream_sequence_starts_at_base_and_spreads_every_prefix() -> None:
    assert stream_temperature(0.7, 0) == 0.7
    for prefix in (5, 10, 50):
        positions = sorted(stream_position(i) for i in range(prefix))
        gaps = [b - a for a, b in itertools.pairwise(positions)]
        # Three-gap theorem: the largest gap is within a small factor of the ideal 1/n.
        assert max(gaps) < 2.7 / prefix
    temps = [stream_temperature(0.7, i) for i in range(50)]
    assert len(set(temps)) == 50
    assert all(0.625 <= t <= 0.775 for t in temps)


def test_spread_position_maps_onto_band() -> None:
    assert spread(0.7, 0.0) == pytest.approx(0.625)
    assert spread(0.7, 0.5) == pytest.approx(0.7)
    assert spread(0.7, 1.0) == pytest.approx(0.775)
