"""The portfolio: ROI of every agent a user may see over a period, its totals and its trend."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.utils import timezone

from registry.db_routing import read_connection, reads_from_replica
from registry.models import Agent
from registry.selectors import agents_visible_to
from telemetry.models import DailyRollup

from ..roi import LIVE_STATUSES, SUM_FIELDS, Metrics, PortfolioTotals, Roi, day_start, live_days
from .sums import daily_rollups, incident_costs, investments, sum_annotations


@dataclass
class Portfolio:
    start: date
    end: date
    rois: list[Roi]
    totals: Roi | None
    trend: list[dict] = field(default_factory=list)
    trend_grain: str = "week"
    agents: list[Agent] = field(default_factory=list)  # in the database's order (by name)

    @property
    def top_by_savings(self) -> list[Roi]:
        live = [r for r in self.rois if r.metrics.runs]
        return sorted(live, key=lambda r: r.savings_usd, reverse=True)[:10]

    @property
    def top_by_cost(self) -> list[Roi]:
        live = [r for r in self.rois if r.metrics.runs]
        return sorted(live, key=lambda r: r.total_cost_usd, reverse=True)[:10]

    @property
    def below_thresholds(self) -> list[Roi]:
        return [r for r in self.rois if r.below_thresholds]

    @property
    def with_incident_cost(self) -> list[Roi]:
        return sorted((r for r in self.rois if r.incident_cost_usd), key=lambda r: r.incident_cost_usd, reverse=True)


def _period_sums(*, visible: QuerySet[Agent], start: date, end: date) -> tuple[dict[int, Metrics], list[dict]]:
    """The period's daily rows of the visible agents summed two ways in one scan (GROUPING
    SETS): per agent, and per day with the value priced per agent through the join.
    Django's ORM has no grouping sets, hence SQL; the filters are the ORM's own."""
    table = DailyRollup._meta.db_table
    agent_table = Agent._meta.db_table
    decimal_fields = {"cost_usd", "human_minutes"}
    sums = ", ".join(f'SUM(r."{f}")' + ("" if f in decimal_fields else "::bigint") + f' AS "{f}"' for f in SUM_FIELDS)
    visible_sql, visible_params = visible.values("pk").query.sql_with_params()
    # Only identifiers from the models' metadata and the ORM's own compiled subquery are spliced in.
    sql = " ".join(
        [
            'SELECT GROUPING(r."agent_id") AS by_day, r."agent_id", r."bucket_start",',
            sums + ",",
            'SUM((r."successes" * a."human_minutes_per_unit" - r."human_minutes") * a."human_cost_per_minute_usd")',
            'AS "value" FROM',
            f'"{table}" r INNER JOIN "{agent_table}" a ON a."id" = r."agent_id"',
            'WHERE r."bucket_start" >= %s AND r."bucket_start" < %s AND r."agent_id" IN (',
            visible_sql,
            ') GROUP BY GROUPING SETS ((r."agent_id"), (r."bucket_start"))',
        ]
    )
    with read_connection(DailyRollup).cursor() as cursor:  # the replica inside report reads
        cursor.execute(sql, [day_start(start), day_start(end), *visible_params])
        names = [c.name for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    by_agent = {r["agent_id"]: Metrics.from_row(r) for r in rows if not r["by_day"]}
    by_day = [r for r in rows if r["by_day"]]
    return by_agent, by_day


@reads_from_replica
def portfolio(*, user, start: date, end: date) -> Portfolio:
    """ROI of every agent the user may see that was live in the period (or reported runs),
    the portfolio totals, and a trend (weekly up to 120 days, monthly beyond)."""
    visible = agents_visible_to(user)
    # One pass over the period's daily rows; the agents are those live now or with runs in it.
    sums, day_rows = _period_sums(visible=visible, start=start, end=end)
    # The tables show the agents' own fields only: no owner or team joins.
    agents = list(visible.select_related(None).filter(Q(status__in=LIVE_STATUSES) | Q(pk__in=list(sums))))
    ids = [a.pk for a in agents]
    incidents = incident_costs(start=start, end=end)
    builds = investments(ids)
    rois = [
        Roi(
            agent=a,
            start=start,
            end=end,
            metrics=sums.get(a.pk, Metrics()),
            live_days=live_days(a, start, end),
            incident_cost_usd=incidents.get(a.pk, Decimal("0")),
            build_cost_usd=builds.get(a.pk, Decimal("0")),
        )
        for a in agents
    ]
    rois.sort(key=lambda r: r.agent.name)
    totals = PortfolioTotals.of(rois, build_cost_usd=sum(builds.values(), Decimal("0")))
    grain = "week" if (end - start).days <= 120 else "month"
    return Portfolio(
        start=start,
        end=end,
        rois=rois,
        totals=totals,
        trend=_trend_buckets(agents=agents, rows=day_rows, start=start, end=end, grain=grain),
        trend_grain=grain,
        agents=agents,
    )


def _bucket_of(d: date, grain: str, start: date) -> date:
    if grain == "week":
        return start + timedelta(days=((d - start).days // 7) * 7)
    return d.replace(day=1)


@reads_from_replica
def portfolio_trend(*, agents: list[Agent], start: date, end: date, grain: str) -> list[dict]:
    """Per week (7-day steps from ``start``) or calendar month: runs, success rate, model
    cost, value and savings of the given agents. One query grouped by day (the value priced
    per agent in SQL through the join), so its cost does not grow with the agent count."""
    value = ExpressionWrapper(
        (F("successes") * F("agent__human_minutes_per_unit") - F("human_minutes"))
        * F("agent__human_cost_per_minute_usd"),
        output_field=DecimalField(max_digits=28, decimal_places=8),
    )
    rows = (
        daily_rollups(start=start, end=end)
        .filter(agent_id__in=[a.pk for a in agents])
        .values("bucket_start")
        # First, while "successes" still names the column and not the sum annotated next.
        .annotate(value=Sum(value))
        .annotate(**sum_annotations())
        .order_by()
    )
    return _trend_buckets(agents=agents, rows=rows, start=start, end=end, grain=grain)


def _trend_buckets(*, agents: list[Agent], rows, start: date, end: date, grain: str) -> list[dict]:
    buckets: dict[date, dict] = {}
    cursor = _bucket_of(start, grain, start)
    while cursor < end:
        buckets[cursor] = {"start": cursor, "metrics": Metrics(), "value": Decimal("0"), "fixed": Decimal("0")}
        cursor = cursor + timedelta(days=7) if grain == "week" else (cursor + timedelta(days=32)).replace(day=1)
    for row in rows:
        bucket = buckets.get(_bucket_of(row["bucket_start"].date(), grain, start))
        if bucket is None:
            continue
        bucket["metrics"].add(Metrics.from_row(row))
        bucket["value"] += row["value"] or Decimal("0")
    # Each agent's go-live day and monthly fixed cost once, not once per bucket.
    fixed_costs = [
        (
            timezone.localdate(a.deployed_at, UTC) if a.deployed_at else None,
            (a.monthly_infra_cost_usd + a.monthly_ops_cost_usd) * 12,
        )
        for a in agents
    ]
    for b in buckets.values():
        if grain == "week":
            b_end = min(b["start"] + timedelta(days=7), end)
        else:
            b_end = min((b["start"] + timedelta(days=32)).replace(day=1), end)
        b_start = max(b["start"], start)
        fixed = Decimal("0")
        for live_on, yearly in fixed_costs:
            days = max(0, (b_end - (max(b_start, live_on) if live_on else b_start)).days)
            fixed += yearly * days / Decimal(365)
        b["end"] = b_end
        b["fixed"] = fixed
        b["cost"] = b["metrics"].cost_usd + fixed
        b["savings"] = b["value"] - b["cost"]
    return list(buckets.values())
