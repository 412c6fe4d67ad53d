"""Fixed, log-spaced latency buckets: the same on every rollup row, so histograms merge by
summing and percentiles come from the merged counts.

Bucket ``i`` (0 <= i < len(EDGES_MS)) holds latencies ``EDGES_MS[i-1] <= ms < EDGES_MS[i]``
(bucket 0 everything under 10 ms); the last bucket, ``len(EDGES_MS)``, holds the rest.
Edges grow by 2^(1/4) (about 19 %), so a percentile is known to within one bucket."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

EDGES_MS: tuple[int, ...] = tuple(round(10 * 2 ** (i / 4)) for i in range(64))  # 10 ms … ~9.2 min
BUCKETS = len(EDGES_MS) + 1


def empty_histogram() -> list[int]:
    return [0] * BUCKETS


def bucket_index(latency_ms: int) -> int:
    return bisect_right(EDGES_MS, latency_ms)


def merge(histograms: Iterable[list[int]]) -> list[int]:
    total = empty_histogram()
    for hist in histograms:
        for i, count in enumerate(hist or ()):
            total[i] += count
    return total


def percentile_ms(hist: list[int], pct: float) -> int | None:
    """The upper edge of the bucket holding the ``pct``-th percentile run: a conservative
    figure ("95 % of runs took less than this"). None without runs; the overflow bucket
    reports its lower edge."""
    total = sum(hist)
    if not total:
        return None
    rank = pct / 100 * total
    seen = 0
    for i, count in enumerate(hist):
        seen += count
        if count and seen >= rank:
            return EDGES_MS[i] if i < len(EDGES_MS) else EDGES_MS[-1]
    return EDGES_MS[-1]


def percentile_estimate_ms(hist: list[int], pct: float) -> float | None:
    """The ``pct``-th percentile interpolated linearly inside its bucket (runs assumed spread
    evenly across it): closer to the exact figure than :func:`percentile_ms`, for comparing two
    windows (drift) rather than promising a bound. None without runs."""
    total = sum(hist)
    if not total:
        return None
    rank = pct / 100 * total
    seen = 0
    for i, count in enumerate(hist):
        if count and seen + count >= rank:
            lower = EDGES_MS[i - 1] if i > 0 else 0
            upper = EDGES_MS[i] if i < len(EDGES_MS) else EDGES_MS[-1]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(EDGES_MS[-1])
