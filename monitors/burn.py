"""Error-budget burn rates of an SLO over multiple windows (Google SRE workbook, chapter "Alerting on
SLOs", multiwindow multi-burn-rate alerts). The windows, burn-rate factors and what they raise:

=========  ============  =============  ===========  =====================================
rule       long window   short window   burn rate    raises
=========  ============  =============  ===========  =====================================
fast       1 hour        5 minutes      ≥ 14.4       alert (page): 2 % of a 30-day budget in 1 h
slow       6 hours       30 minutes     ≥ 6          alert (page): 5 % of the budget in 6 h
ticket     3 days        6 hours        ≥ 1          warning (ticket): 10 % of the budget in 3 days
=========  ============  =============  ===========  =====================================

A rule fires when **both** its windows burn at least at its rate: the long window makes it
significant, the short one makes it stop soon after the burning stops (so the alert clears).
The burn rate of a window is its bad share of runs divided by the error budget (100 % − target).
Windows end at the last complete five-minute bucket; a window without runs burns nothing.

Two SLIs per SLO: **availability** (bad: errored, timed out, or failed; the five-minute rollups'
``errored_or_failed``) and **latency** (bad: not under the threshold; from the latency histogram,
a run in the bucket holding the threshold counts as slow — a conservative reading)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from .choices import Level

FIVE_MINUTES = timedelta(minutes=5)


@dataclass(frozen=True)
class Rule:
    name: str
    long: timedelta
    short: timedelta
    factor: float
    level: str


RULES = (
    Rule("fast", timedelta(hours=1), timedelta(minutes=5), 14.4, Level.ALERT),
    Rule("slow", timedelta(hours=6), timedelta(minutes=30), 6.0, Level.ALERT),
    Rule("ticket", timedelta(days=3), timedelta(hours=6), 1.0, Level.WARNING),
)
LONGEST = max(r.long for r in RULES)


@dataclass(frozen=True)
class Bucket:
    """One five-minute bucket of an SLO's runs: how many, how many unavailable, how many slow."""

    start: datetime
    runs: int
    unavailable: int
    slow: int


def window_end(now: datetime) -> datetime:
    """The end of the last complete five-minute bucket (windows never read a bucket still filling)."""
    return now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)


def burn_rate(buckets: Iterable[Bucket], *, start: datetime, end: datetime, sli: str, target: Decimal) -> float:
    """Bad share of the runs in [start, end) over the error budget; 0 without runs."""
    runs = bad = 0
    for b in buckets:
        if start <= b.start < end:
            runs += b.runs
            bad += b.unavailable if sli == "availability" else b.slow
    if not runs:
        return 0.0
    budget = (100 - float(target)) / 100
    return (bad / runs) / budget


def evaluate_sli(buckets: list[Bucket], *, end: datetime, sli: str, target: Decimal) -> tuple[str, dict]:
    """The level one SLI is at (the most serious rule firing) and every window's burn rate."""
    rates: dict[str, float] = {}
    level = Level.OK
    for rule in RULES:
        long_rate = burn_rate(buckets, start=end - rule.long, end=end, sli=sli, target=target)
        short_rate = burn_rate(buckets, start=end - rule.short, end=end, sli=sli, target=target)
        rates[rule.name] = {"long": round(long_rate, 2), "short": round(short_rate, 2), "factor": rule.factor}
        if long_rate >= rule.factor and short_rate >= rule.factor and level != Level.ALERT:
            level = rule.level
    return level, rates


def budget_left_pct(buckets: list[Bucket], *, start: datetime, end: datetime, sli: str, target: Decimal) -> float:
    """How much of the period's error budget is left (100 % unspent; negative when overspent)."""
    return round(100 * (1 - burn_rate(buckets, start=start, end=end, sli=sli, target=target)), 1)
