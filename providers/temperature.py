"""Temperature spread for leads of one company, so their emails do not read alike.

The write-up's ``get_temperature_for_batch`` computes ``base + (i/n)*0.15 - 0.075``: its top
index reaches only ``base + 0.075*(n-2)/n``, and its comment's "0.65 to 0.80" for base 0.7
matches neither that nor a symmetric band. We spread over exactly ``base ± SPREAD``.
"""

from __future__ import annotations

SPREAD = 0.075
MIN_TEMPERATURE = 0.1
MAX_TEMPERATURE = 1.0
#: 1/phi: consecutive multiples mod 1 fill [0, 1) evenly for every prefix (Weyl sequence).
GOLDEN_FRACTION = 0.6180339887498949


def clamp(value: float) -> float:
    return max(MIN_TEMPERATURE, min(MAX_TEMPERATURE, value))


#: Tasks at or below this base are deterministic (extraction, classification): never spread.
DETERMINISTIC_MAX = 0.3


def spread(base: float, position: float) -> float:
    """Temperature at ``position`` in the company's band: 0 -> base-0.075, 0.5 -> base, 1 -> +."""
    if base <= DETERMINISTIC_MAX:
        return base
    return round(clamp(base - SPREAD + 2 * SPREAD * position), 6)


def batch_position(index: int, size: int) -> float:
    """Linear placement when the batch size is known; a batch of one sits at the centre."""
    if size <= 1:
        return 0.5
    return min(max(index, 0), size - 1) / (size - 1)


def stream_position(ordinal: int) -> float:
    """Placement of the n-th lead (0-based) of a stream of unknown length.

    Golden-ratio (Weyl) sequence from the centre: the first lead gets the base, as a batch of
    one does, and every prefix of the sequence is spread evenly over the band.
    """
    return (0.5 + ordinal * GOLDEN_FRACTION) % 1.0


def batch_temperature(base: float, index: int, size: int) -> float:
    return spread(base, batch_position(index, size))


def stream_temperature(base: float, ordinal: int) -> float:
    return spread(base, stream_position(ordinal))


def seed_batch_temperature(base: float, index: int, batch_size: int) -> float:
    """The write-up's function verbatim, kept to document (and test) how it differs."""
    variation = 0.15
    offset = (index / batch_size) * variation - (variation / 2)
    return max(0.1, min(1.0, base + offset))
