"""Interval estimates for comparing two versions (A/B lift, shadow vs production), kept pure so
the tests can check them against figures computed by hand.

Normal approximations at 95 %: a difference of two proportions (Wald, unpooled), a difference of
two means (Welch's standard error), and a ratio of sums — cost per success, Σ cost ÷ Σ successes —
by the delta method. Single proportions use the Wilson interval of the drift checks
(``evals.drift_stats.wilson_interval``); the two-proportion z-test is theirs too."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from evals.drift_stats import wilson_interval

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963…


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95 % interval (``low``/``high`` None when it cannot be estimated)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def _words(self, scale: float, fmt: str, unit: str) -> str:
        if self.value is None:
            return "—"
        if self.low is None or self.high is None:
            return f"{self.value * scale:{fmt}}{unit}"
        return f"{self.value * scale:{fmt}}{unit} [{self.low * scale:{fmt}}, {self.high * scale:{fmt}}]"

    # For pages: the figure and its 95 % interval in words.
    @property
    def as_pct(self) -> str:
        return self._words(100, ".1f", " %")

    @property
    def as_points(self) -> str:
        return self._words(100, "+.1f", " pts")

    @property
    def as_usd(self) -> str:
        return self._words(1, ".4f", " $")

    @property
    def as_seconds(self) -> str:
        return self._words(1, ".2f", " s")


NONE = Estimate(None)


@dataclass(frozen=True)
class Sums:
    """What one side of a comparison needs, all computable in one SQL aggregate: runs, successes,
    escalations, Σ cost, Σ cost², Σ cost over successes, Σ latency (s), Σ latency² (s²)."""

    n: int = 0
    successes: int = 0
    escalations: int = 0
    cost: float = 0.0
    cost_sq: float = 0.0
    cost_success: float = 0.0
    latency: float = 0.0
    latency_sq: float = 0.0


def proportion(x: int, n: int) -> Estimate:
    if n <= 0:
        return NONE
    low, high = wilson_interval(x, n)
    return Estimate(x / n, low, high)


def proportion_diff(x1: int, n1: int, x2: int, n2: int) -> Estimate:
    """p2 − p1 with the Wald interval p2 − p1 ± z·√(p1q1/n1 + p2q2/n2)."""
    if n1 <= 0 or n2 <= 0:
        return NONE
    p1, p2 = x1 / n1, x2 / n2
    half = Z95 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return Estimate(p2 - p1, p2 - p1 - half, p2 - p1 + half)


def _mean_and_var(total: float, total_sq: float, n: int) -> tuple[float, float]:
    """Mean and the sample variance (n − 1), from Σx and Σx²."""
    mean = total / n
    var = max(0.0, (total_sq - n * mean * mean) / (n - 1)) if n > 1 else 0.0
    return mean, var


def mean(total: float, total_sq: float, n: int) -> Estimate:
    if n <= 0:
        return NONE
    m, var = _mean_and_var(total, total_sq, n)
    half = Z95 * math.sqrt(var / n)
    return Estimate(m, m - half, m + half)


def mean_diff(a: tuple[float, float, int], b: tuple[float, float, int]) -> Estimate:
    """mean(b) − mean(a), each side given as (Σx, Σx², n); Welch's standard error."""
    if a[2] <= 0 or b[2] <= 0:
        return NONE
    ma, va = _mean_and_var(*a)
    mb, vb = _mean_and_var(*b)
    half = Z95 * math.sqrt(va / a[2] + vb / b[2])
    return Estimate(mb - ma, mb - ma - half, mb + half - ma)


def _ratio_and_var(s: Sums) -> tuple[float, float] | None:
    """Cost per success R = Σc / Σs and Var(R) ≈ Var(c − R·s) / (n · s̄²) (delta method), with
    Var(c − R·s) = (Σc² − 2R·Σ(c·s) + R²·Σs) / (n − 1) since s is 0 or 1 and Σ(c − R·s) = 0."""
    if s.n <= 0 or s.successes <= 0:
        return None
    r = s.cost / s.successes
    if s.n == 1:
        return r, 0.0
    resid = max(0.0, (s.cost_sq - 2 * r * s.cost_success + r * r * s.successes) / (s.n - 1))
    share = s.successes / s.n
    return r, resid / (s.n * share * share)


def cost_per_success(s: Sums) -> Estimate:
    got = _ratio_and_var(s)
    if got is None:
        return NONE
    r, var = got
    half = Z95 * math.sqrt(var)
    return Estimate(r, r - half, r + half)


def cost_per_success_diff(a: Sums, b: Sums) -> Estimate:
    ra, rb = _ratio_and_var(a), _ratio_and_var(b)
    if ra is None or rb is None:
        return NONE
    half = Z95 * math.sqrt(ra[1] + rb[1])
    return Estimate(rb[0] - ra[0], rb[0] - ra[0] - half, rb[0] - ra[0] + half)
