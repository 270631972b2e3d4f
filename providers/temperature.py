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


def batch_temperature(base: float, index: int, size: int) -> float:
    """Linear spread when the batch size is known: index 0 -> base-0.075, last -> base+0.075."""
    if size <= 1:
        return round(clamp(base), 6)
    position = min(max(index, 0), size - 1) / (size - 1)
    return round(clamp(base - SPREAD + 2 * SPREAD * position), 6)


def stream_temperature(base: float, ordinal: int) -> float:
    """Spread for a stream of unknown length: the n-th lead (0-based) of a company+campaign.

    The sequence starts at the centre (a lone lead gets ``base``, as a batch of one does) and
    every prefix is spread evenly over the band.
    """
    fraction = (0.5 + ordinal * GOLDEN_FRACTION) % 1.0
    return round(clamp(base - SPREAD + 2 * SPREAD * fraction), 6)


def seed_batch_temperature(base: float, index: int, batch_size: int) -> float:
    """The write-up's function verbatim, kept to document (and test) how it differs."""
    variation = 0.15
    offset = (index / batch_size) * variation - (variation / 2)
    return max(0.1, min(1.0, base + offset))
