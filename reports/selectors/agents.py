"""Per-agent report reads: ROI over a period, by reporting period, per day, per version and
for the last 24 hours. Everything reads rollups, never raw runs."""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from registry.db_routing import reads_from_replica
from registry.models import Agent
from telemetry.latency import merge
from telemetry.models import DailyRollup, HourlyRollup

from ..roi import SUM_FIELDS, Metrics, Roi, live_days
from .sums import daily_rollups, incident_costs, investments, sum_annotations

FIRST_WEEKS_DAYS = 90  # weekly reporting for an agent's first 90 days in production, monthly after


@reads_from_replica
def agent_metrics(*, agent: Agent, start: date, end: date, with_latency: bool = True) -> Metrics:
    rows = daily_rollups(start=start, end=end).filter(agent=agent)
    metrics = Metrics.from_row(rows.aggregate(**sum_annotations()))
    if with_latency:
        metrics.latency_hist = merge(rows.values_list("latency_hist", flat=True))
    return metrics


@reads_from_replica
def agent_roi(*, agent: Agent, start: date, end: date) -> Roi:
    """The ROI of one agent over [start, end)."""
    incidents = incident_costs(start=start, end=end)
    return Roi(
        agent=agent,
        start=start,
        end=end,
        metrics=agent_metrics(agent=agent, start=start, end=end),
        live_days=live_days(agent, start, end),
        incident_cost_usd=incidents.get(agent.pk, Decimal("0")),
        build_cost_usd=investments([agent.pk]).get(agent.pk, Decimal("0")),
    )


@dataclass
class Period:
    label: str
    start: date
    end: date
    grain: str  # "week" or "month"


def roi_periods(*, agent: Agent, today: date, horizon_days: int = 365) -> list[Period]:
    """Reporting periods of an agent: weeks for its first 90 days in production (counted
    from go-live), calendar months after; the last ``horizon_days`` only, newest last.
    Periods end at ``today`` (exclusive) — the current period is partial."""
    if not agent.deployed_at:
        return []
    live = timezone.localdate(agent.deployed_at, UTC)
    horizon = today - timedelta(days=horizon_days)
    periods: list[Period] = []
    weeks_end = live + timedelta(days=FIRST_WEEKS_DAYS)
    cursor, n = live, 1
    while cursor < min(weeks_end, today):
        nxt = min(cursor + timedelta(days=7), weeks_end)
        periods.append(Period(f"Week {n} ({cursor:%d %b})", cursor, min(nxt, today), "week"))
        cursor, n = nxt, n + 1
    while cursor < today:
        last = calendar.monthrange(cursor.year, cursor.month)[1]
        nxt = date(cursor.year, cursor.month, last) + timedelta(days=1)
        periods.append(Period(f"{cursor:%B %Y}", cursor, min(nxt, today), "month"))
        cursor = nxt
    return [p for p in periods if p.end > horizon]


@reads_from_replica
def agent_roi_by_period(*, agent: Agent, periods: list[Period]) -> list[tuple[Period, Roi]]:
    """ROI per reporting period, from one query over the agent's daily rollups."""
    if not periods:
        return []
    rows = (
        daily_rollups(start=periods[0].start, end=periods[-1].end)
        .filter(agent=agent)
        .values("bucket_start")
        .annotate(**sum_annotations())
        .order_by("bucket_start")
    )
    per_day = {r["bucket_start"].date(): Metrics.from_row(r) for r in rows}
    build = investments([agent.pk]).get(agent.pk, Decimal("0"))
    out = []
    for period in periods:
        m = Metrics()
        for d, dm in per_day.items():
            if period.start <= d < period.end:
                m.add(dm)
        out.append(
            (
                period,
                Roi(
                    agent=agent,
                    start=period.start,
                    end=period.end,
                    metrics=m,
                    live_days=live_days(agent, period.start, period.end),
                    build_cost_usd=build,
                ),
            )
        )
    return out


@reads_from_replica
def agent_first_run_day(*, agent: Agent) -> date | None:
    """The first day the agent reported a run (its rollups' first day with runs), if any."""
    first = (
        DailyRollup.objects.filter(agent=agent, runs__gt=0)
        .order_by("bucket_start")
        .values_list("bucket_start", flat=True)
        .first()
    )
    return None if first is None else timezone.localdate(first, UTC)


@reads_from_replica
def agent_reporting_periods(*, agent: Agent, start: date, end: date) -> list[tuple[Period, Roi]]:
    """ROI per reporting period inside the chosen range [start, end): the agent's weeks and
    months (:func:`roi_periods`) that overlap the range, clipped to it so they add up to the
    range's own figures. Periods that end before the agent's first run are left out: before it
    reports anything there is no ROI to show, only fixed costs that would read as losses."""
    first_run = agent_first_run_day(agent=agent)
    if first_run is None:
        return []
    periods = [
        replace(p, start=max(p.start, start), end=min(p.end, end))
        for p in roi_periods(agent=agent, today=end, horizon_days=(end - start).days)
        if p.end > max(start, first_run) and p.start < end
    ]
    return agent_roi_by_period(agent=agent, periods=periods)


@reads_from_replica
def agent_daily_series(*, agent: Agent, start: date, end: date) -> list[tuple[date, Metrics]]:
    rows = (
        daily_rollups(start=start, end=end)
        .filter(agent=agent)
        .values("bucket_start")
        .annotate(**sum_annotations())
        .order_by("bucket_start")
    )
    by_day = {r["bucket_start"].date(): Metrics.from_row(r) for r in rows}
    days = (end - start).days
    return [(start + timedelta(days=i), by_day.get(start + timedelta(days=i), Metrics())) for i in range(days)]


@reads_from_replica
def agent_versions_breakdown(*, agent: Agent, start: date, end: date) -> list[dict]:
    """Per version: its counters and latency percentiles over the period."""
    rows = daily_rollups(start=start, end=end).filter(agent=agent).values("version_id", "latency_hist", *SUM_FIELDS)
    labels = dict(agent.versions.values_list("pk", "label"))
    grouped: dict[int | None, Metrics] = {}
    hists: dict[int | None, list] = defaultdict(list)
    for row in rows:
        grouped.setdefault(row["version_id"], Metrics()).add(Metrics.from_row(row))
        hists[row["version_id"]].append(row["latency_hist"])
    out = []
    for version_id, m in grouped.items():
        m.latency_hist = merge(hists[version_id])
        out.append({"version": labels.get(version_id, "(unregistered)"), "metrics": m})
    return sorted(out, key=lambda r: r["version"])


@reads_from_replica
def agent_last_24h(*, agent: Agent, now: datetime) -> Metrics:
    rows = HourlyRollup.objects.filter(agent=agent, bucket_start__gte=now - timedelta(hours=24))
    m = Metrics.from_row(rows.aggregate(**sum_annotations()))
    m.latency_hist = merge(rows.values_list("latency_hist", flat=True))
    return m
