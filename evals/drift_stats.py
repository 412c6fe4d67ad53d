"""The statistics behind drift checks, kept pure so they can be tested on known values.

Rates use a two-proportion z-test (pooled), the outcome mix a chi-square test of
homogeneity plus the population stability index as an effect size, and cost and latency a
relative change. No SciPy: the two distributions needed (normal, chi-square) are short."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

_NORMAL = NormalDist()


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """z for p2 − p1 (pooled standard error) and the one-sided p-value of p2 > p1.

    Use ``1 - p`` (or swap the samples) for the other direction."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("Both samples need at least one observation.")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        # Both samples all-or-nothing and equal: no evidence of any difference.
        return 0.0, 0.5 if p1 == p2 else (0.0 if p2 > p1 else 1.0)
    z = (p2 - p1) / se
    return z, 1 - _NORMAL.cdf(z)


def wilson_interval(x: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (well-behaved near 0 and 1, unlike Wald)."""
    if n <= 0:
        return 0.0, 1.0
    z = _NORMAL.inv_cdf(1 - (1 - confidence) / 2)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) (Numerical Recipes: series below a+1,
    continued fraction above)."""
    if x <= 0:
        return 1.0
    gln = math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - gln))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - gln) * h


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X ≥ statistic) for a chi-square distribution with ``dof`` degrees of freedom."""
    if dof <= 0:
        return 1.0
    return _gamma_q(dof / 2, statistic / 2)


def chi_square_homogeneity(baseline: Sequence[int], recent: Sequence[int]) -> tuple[float, int, float]:
    """Chi-square test that two samples share one categorical distribution.

    Categories empty in both samples are dropped (they carry no information and would
    divide by zero). Returns (statistic, degrees of freedom, p-value)."""
    pairs = [(b, r) for b, r in zip(baseline, recent, strict=True) if b + r > 0]
    n_b, n_r = sum(b for b, _ in pairs), sum(r for _, r in pairs)
    if n_b == 0 or n_r == 0 or len(pairs) < 2:
        return 0.0, 0, 1.0
    total = n_b + n_r
    stat = 0.0
    for b, r in pairs:
        col = b + r
        for observed, row in ((b, n_b), (r, n_r)):
            expected = row * col / total
            stat += (observed - expected) ** 2 / expected
    dof = len(pairs) - 1
    return stat, dof, chi2_sf(stat, dof)


def population_stability_index(baseline: Sequence[int], recent: Sequence[int], epsilon: float = 1e-4) -> float:
    """PSI = Σ (r − b) · ln(r / b) over category shares; 0.1 is a small shift, 0.25 a large one.

    ``epsilon`` stands in for an empty share so a category appearing from nothing counts
    as a large shift rather than an infinity."""
    n_b, n_r = sum(baseline), sum(recent)
    if n_b == 0 or n_r == 0:
        return 0.0
    psi = 0.0
    for b, r in zip(baseline, recent, strict=True):
        pb = max(b / n_b, epsilon)
        pr = max(r / n_r, epsilon)
        psi += (pr - pb) * math.log(pr / pb)
    return psi


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (the same definition as PostgreSQL percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = math.ceil(pos)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def relative_change_pct(baseline: float | None, recent: float | None) -> float | None:
    if baseline is None or recent is None or baseline <= 0:
        return None
    return (recent - baseline) / baseline * 100
