"""Report reads: ROI per agent and for the portfolio, budget burn, review calendar.

Everything here reads rollups (``DailyRollup``, ``HourlyRollup``), never raw runs, so a page
costs the same at ten thousand runs as at a million.

Formulas (per agent, for a period of ``days`` whole UTC days; the agent counts as live from
its go-live date when that falls inside the period):

* task success rate = resolved runs / runs
* escalation rate = escalated runs / runs; containment = 1 − escalation rate
* human intervention rate = runs escalated or with human handling minutes / runs
* average handle time = mean run latency (sum of latency / runs)
* minutes automated = resolved runs × human minutes per unit − human handling minutes spent
* value = minutes automated × human cost per minute
* model cost = the runs' reported cost (inference and tools)
* infrastructure cost = monthly infrastructure × 12 / 365 × live days; operations likewise
* savings = value − (model cost + infrastructure + operations)
* annualized savings = savings × 365 / live days
* net of incidents = savings − incident financial impact in the period (annualized likewise)
* ROI multiple = value / (model + infrastructure + operations)
* payback (months) = one-time build cost / (annualized savings / 12), when savings are positive
* cost per successful task (blended) = (model cost + infrastructure + human minutes × human
  cost per minute) / resolved runs
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from django.db import connection
from django.db.models import DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.utils import timezone

from registry.models import Agent, Review
from registry.selectors import agents_visible_to

from .latency import merge, percentile_ms
from .models import AgentInvestment, BudgetAlert, DailyRollup, HourlyRollup

SUM_FIELDS = DailyRollup.COUNTERS
CENT = Decimal("0.01")
LIVE_STATUSES = ("pilot", "production", "paused")
FIRST_WEEKS_DAYS = 90  # weekly reporting for an agent's first 90 days in production, monthly after


def day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def pct(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass
class Metrics:
    """Summed rollup counters for one agent (or the portfolio) over a period."""

    runs: int = 0
    successes: int = 0
    escalations: int = 0
    failures: int = 0
    blocked: int = 0
    abandoned: int = 0
    errors: int = 0
    human_touched: int = 0
    policy_blocks: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    human_minutes: Decimal = Decimal("0")
    latency_sum_ms: int = 0
    latency_hist: list[int] | None = None

    @classmethod
    def from_row(cls, row: dict) -> Metrics:
        values = {f: (row.get(f) or 0) for f in SUM_FIELDS}
        values["cost_usd"] = Decimal(values["cost_usd"])
        values["human_minutes"] = Decimal(values["human_minutes"])
        return cls(**values, latency_hist=row.get("latency_hist"))

    def add(self, other: Metrics) -> None:
        for f in SUM_FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    @property
    def success_rate_pct(self):
        return pct(self.successes, self.runs)

    @property
    def escalation_rate_pct(self):
        return pct(self.escalations, self.runs)

    @property
    def containment_pct(self):
        return None if not self.runs else Decimal(100) - pct(self.escalations, self.runs)

    @property
    def intervention_rate_pct(self):
        return pct(self.human_touched, self.runs)

    @property
    def error_rate_pct(self):
        return pct(self.errors, self.runs)

    @property
    def aht_seconds(self) -> Decimal | None:
        if not self.runs:
            return None
        return (Decimal(self.latency_sum_ms) / self.runs / 1000).quantize(Decimal("0.1"))

    def latency_pct_ms(self, p: float) -> int | None:
        return percentile_ms(self.latency_hist, p) if self.latency_hist else None


@dataclass
class Roi:
    """ROI of one agent over a period; the formulas are in this module's docstring. Built once
    from its inputs and not changed after, so the derived figures are computed once (the
    portfolio reads each of them several times for a hundred agents)."""

    agent: Agent
    start: date
    end: date
    metrics: Metrics
    live_days: int
    incident_cost_usd: Decimal = Decimal("0")
    build_cost_usd: Decimal = Decimal("0")

    @property
    def human_cost_per_minute(self) -> Decimal:
        return self.agent.human_cost_per_minute_usd

    @cached_property
    def minutes_automated(self) -> Decimal:
        return self.metrics.successes * self.agent.human_minutes_per_unit - self.metrics.human_minutes

    @cached_property
    def value_usd(self) -> Decimal:
        return self.minutes_automated * self.human_cost_per_minute

    @property
    def model_cost_usd(self) -> Decimal:
        return self.metrics.cost_usd

    def _prorated(self, monthly: Decimal) -> Decimal:
        return monthly * 12 * self.live_days / Decimal(365)

    @cached_property
    def infra_cost_usd(self) -> Decimal:
        return self._prorated(self.agent.monthly_infra_cost_usd)

    @cached_property
    def ops_cost_usd(self) -> Decimal:
        return self._prorated(self.agent.monthly_ops_cost_usd)

    @cached_property
    def total_cost_usd(self) -> Decimal:
        return self.model_cost_usd + self.infra_cost_usd + self.ops_cost_usd

    @cached_property
    def savings_usd(self) -> Decimal:
        return self.value_usd - self.total_cost_usd

    def _annualize(self, amount: Decimal) -> Decimal | None:
        return amount * 365 / Decimal(self.live_days) if self.live_days else None

    @cached_property
    def annualized_savings_usd(self) -> Decimal | None:
        return self._annualize(self.savings_usd)

    @property
    def net_of_incidents_usd(self) -> Decimal:
        return self.savings_usd - self.incident_cost_usd

    @property
    def annualized_net_of_incidents_usd(self) -> Decimal | None:
        return self._annualize(self.net_of_incidents_usd)

    @cached_property
    def roi_multiple(self) -> Decimal | None:
        if not self.total_cost_usd:
            return None
        return (self.value_usd / self.total_cost_usd).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @property
    def payback_months(self) -> Decimal | None:
        annual = self.annualized_savings_usd
        if not self.build_cost_usd or annual is None or annual <= 0:
            return None
        return (self.build_cost_usd / (annual / 12)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @cached_property
    def cost_per_success_usd(self) -> Decimal | None:
        if not self.metrics.successes:
            return None
        blended = self.model_cost_usd + self.infra_cost_usd + self.metrics.human_minutes * self.human_cost_per_minute
        return blended / self.metrics.successes

    @property
    def below_thresholds(self) -> list[str]:
        """Which of the agent's thresholds the period missed (empty when none, or no runs)."""
        m = self.metrics
        misses = []
        if m.runs and m.success_rate_pct < self.agent.success_threshold_pct:
            misses.append(f"task success {m.success_rate_pct} % < {self.agent.success_threshold_pct:.0f} %")
        if m.runs and m.escalation_rate_pct > self.agent.escalation_threshold_pct:
            misses.append(f"escalation {m.escalation_rate_pct} % > {self.agent.escalation_threshold_pct:.0f} %")
        return misses


def live_days(agent: Agent, start: date, end: date) -> int:
    """Days of [start, end) on which the agent was live (from its go-live date on)."""
    live_start = start
    if agent.deployed_at:
        live_start = max(start, timezone.localdate(agent.deployed_at, UTC))
    return max(0, (end - live_start).days)


def _sum_annotations() -> dict:
    return {f: Sum(f) for f in SUM_FIELDS}


def daily_rollups(*, start: date, end: date) -> QuerySet[DailyRollup]:
    return DailyRollup.objects.filter(bucket_start__gte=day_start(start), bucket_start__lt=day_start(end))


def incident_costs(*, start: date, end: date) -> tuple[bool, dict[int, Decimal]]:
    """Incident financial impact per agent from the incidents app, when it provides one.
    Returns (available, costs)."""
    try:
        from incidents.selectors import incident_cost_by_agent
    except ImportError:
        return False, {}
    costs = incident_cost_by_agent(start=day_start(start), end=day_start(end))
    return True, {int(k): Decimal(v) for k, v in costs.items()}


def _investments(agent_ids) -> dict[int, Decimal]:
    return dict(AgentInvestment.objects.filter(agent_id__in=agent_ids).values_list("agent_id", "build_cost_usd"))


def agent_metrics(*, agent: Agent, start: date, end: date, with_latency: bool = True) -> Metrics:
    rows = daily_rollups(start=start, end=end).filter(agent=agent)
    metrics = Metrics.from_row(rows.aggregate(**_sum_annotations()))
    if with_latency:
        metrics.latency_hist = merge(rows.values_list("latency_hist", flat=True))
    return metrics


def agent_roi(*, agent: Agent, start: date, end: date) -> Roi:
    """The ROI of one agent over [start, end)."""
    _, incidents = incident_costs(start=start, end=end)
    return Roi(
        agent=agent,
        start=start,
        end=end,
        metrics=agent_metrics(agent=agent, start=start, end=end),
        live_days=live_days(agent, start, end),
        incident_cost_usd=incidents.get(agent.pk, Decimal("0")),
        build_cost_usd=_investments([agent.pk]).get(agent.pk, Decimal("0")),
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


def agent_roi_by_period(*, agent: Agent, periods: list[Period]) -> list[tuple[Period, Roi]]:
    """ROI per reporting period, from one query over the agent's daily rollups."""
    if not periods:
        return []
    rows = (
        daily_rollups(start=periods[0].start, end=periods[-1].end)
        .filter(agent=agent)
        .values("bucket_start")
        .annotate(**_sum_annotations())
        .order_by("bucket_start")
    )
    per_day = {r["bucket_start"].date(): Metrics.from_row(r) for r in rows}
    build = _investments([agent.pk]).get(agent.pk, Decimal("0"))
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


def agent_daily_series(*, agent: Agent, start: date, end: date) -> list[tuple[date, Metrics]]:
    rows = (
        daily_rollups(start=start, end=end)
        .filter(agent=agent)
        .values("bucket_start")
        .annotate(**_sum_annotations())
        .order_by("bucket_start")
    )
    by_day = {r["bucket_start"].date(): Metrics.from_row(r) for r in rows}
    days = (end - start).days
    return [(start + timedelta(days=i), by_day.get(start + timedelta(days=i), Metrics())) for i in range(days)]


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


def agent_last_24h(*, agent: Agent, now: datetime) -> Metrics:
    rows = HourlyRollup.objects.filter(agent=agent, bucket_start__gte=now - timedelta(hours=24))
    m = Metrics.from_row(rows.aggregate(**_sum_annotations()))
    m.latency_hist = merge(rows.values_list("latency_hist", flat=True))
    return m


# --- budget burn ---------------------------------------------------------------------------


@dataclass
class BudgetBurn:
    """Month-to-date spend projected linearly to the month's end."""

    agent: Agent
    month_start: date
    month_to_date_usd: Decimal
    elapsed_fraction: Decimal
    budget_usd: Decimal

    @property
    def projected_usd(self) -> Decimal:
        if not self.elapsed_fraction:
            return Decimal("0")
        return money(self.month_to_date_usd / self.elapsed_fraction)

    @property
    def over_budget(self) -> bool:
        return bool(self.budget_usd) and self.projected_usd > self.budget_usd

    @property
    def burn_pct(self) -> Decimal | None:
        return pct(self.projected_usd, self.budget_usd)


def month_bounds(moment: datetime) -> tuple[date, date, Decimal]:
    """(first day, first day of next month, fraction of the month elapsed at ``moment``)."""
    first = moment.date().replace(day=1)
    days = calendar.monthrange(first.year, first.month)[1]
    nxt = first + timedelta(days=days)
    elapsed = (moment - day_start(first)).total_seconds() / (days * 86400)
    return first, nxt, Decimal(str(round(max(elapsed, 1 / (days * 24)), 6)))


def budget_burns(*, now: datetime, agents: QuerySet[Agent] | list[Agent] | None = None) -> list[BudgetBurn]:
    """Month-to-date run cost per live agent with a budget, projected to the month's end:
    projected = month-to-date spend / elapsed fraction of the month (elapsed counted to the
    hour, at least one hour so the 1st of the month does not divide by zero). ``agents`` may
    be a list already loaded (the portfolio's), filtered the same way in Python."""
    if isinstance(agents, list):
        agents = [a for a in agents if a.status in LIVE_STATUSES and a.monthly_budget_usd > 0]
        of_agents = Q(agent_id__in=[a.pk for a in agents])
    else:
        agents = (agents if agents is not None else Agent.objects.all()).filter(
            status__in=LIVE_STATUSES, monthly_budget_usd__gt=0
        )
        of_agents = Q(agent__in=agents)
    first, nxt, elapsed = month_bounds(now)
    spend = dict(
        daily_rollups(start=first, end=nxt)
        .filter(of_agents)
        .values("agent_id")
        .annotate(c=Sum("cost_usd"))
        .values_list("agent_id", "c")
    )
    return [
        BudgetBurn(
            agent=a,
            month_start=first,
            month_to_date_usd=Decimal(spend.get(a.pk) or 0),
            elapsed_fraction=elapsed,
            budget_usd=a.monthly_budget_usd,
        )
        for a in agents
    ]


def budget_alerts_current(*, user, today: date) -> list[BudgetAlert]:
    """This month's newest alert per agent the user may see (home and portfolio pages)."""
    visible = agents_visible_to(user).values("pk")
    alerts = (
        BudgetAlert.objects.filter(agent__in=visible, day__gte=today.replace(day=1), day__lte=today)
        .select_related("agent")
        .order_by("-day", "agent__name")
    )
    newest: dict[int, BudgetAlert] = {}
    for alert in alerts:
        newest.setdefault(alert.agent_id, alert)
    return list(newest.values())


# --- portfolio -----------------------------------------------------------------------------


@dataclass
class Portfolio:
    start: date
    end: date
    rois: list[Roi]
    totals: Roi | None
    trend: list[dict] = field(default_factory=list)
    trend_grain: str = "week"
    incidents_available: bool = False
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


@dataclass
class PortfolioTotals:
    metrics: Metrics
    value_usd: Decimal
    model_cost_usd: Decimal
    infra_cost_usd: Decimal
    ops_cost_usd: Decimal
    incident_cost_usd: Decimal
    annualized_savings_usd: Decimal
    build_cost_usd: Decimal

    @property
    def total_cost_usd(self) -> Decimal:
        return self.model_cost_usd + self.infra_cost_usd + self.ops_cost_usd

    @property
    def savings_usd(self) -> Decimal:
        return self.value_usd - self.total_cost_usd

    @property
    def net_of_incidents_usd(self) -> Decimal:
        return self.savings_usd - self.incident_cost_usd

    @property
    def roi_multiple(self) -> Decimal | None:
        if not self.total_cost_usd:
            return None
        return (self.value_usd / self.total_cost_usd).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @property
    def cost_per_success_usd(self) -> Decimal | None:
        return None  # blended per-agent only: human minute prices differ between agents


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
    with connection.cursor() as cursor:
        cursor.execute(sql, [day_start(start), day_start(end), *visible_params])
        names = [c.name for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    by_agent = {r["agent_id"]: Metrics.from_row(r) for r in rows if not r["by_day"]}
    by_day = [r for r in rows if r["by_day"]]
    return by_agent, by_day


def portfolio(*, user, start: date, end: date) -> Portfolio:
    """ROI of every agent the user may see that was live in the period (or reported runs),
    the portfolio totals, and a trend (weekly up to 120 days, monthly beyond)."""
    visible = agents_visible_to(user)
    # One pass over the period's daily rows; the agents are those live now or with runs in it.
    sums, day_rows = _period_sums(visible=visible, start=start, end=end)
    # The tables show the agents' own fields only: no owner or team joins.
    agents = list(visible.select_related(None).filter(Q(status__in=LIVE_STATUSES) | Q(pk__in=list(sums))))
    ids = [a.pk for a in agents]
    available, incidents = incident_costs(start=start, end=end)
    builds = _investments(ids)
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
    totals_metrics = Metrics()
    for r in rois:
        totals_metrics.add(r.metrics)
    totals = PortfolioTotals(
        metrics=totals_metrics,
        value_usd=sum((r.value_usd for r in rois), Decimal("0")),
        model_cost_usd=sum((r.model_cost_usd for r in rois), Decimal("0")),
        infra_cost_usd=sum((r.infra_cost_usd for r in rois), Decimal("0")),
        ops_cost_usd=sum((r.ops_cost_usd for r in rois), Decimal("0")),
        incident_cost_usd=sum((r.incident_cost_usd for r in rois), Decimal("0")),
        annualized_savings_usd=sum((r.annualized_savings_usd or Decimal("0") for r in rois), Decimal("0")),
        build_cost_usd=sum(builds.values(), Decimal("0")),
    )
    grain = "week" if (end - start).days <= 120 else "month"
    return Portfolio(
        start=start,
        end=end,
        rois=rois,
        totals=totals,
        trend=_trend_buckets(agents=agents, rows=day_rows, start=start, end=end, grain=grain),
        trend_grain=grain,
        incidents_available=available,
        agents=agents,
    )


def _bucket_of(d: date, grain: str, start: date) -> date:
    if grain == "week":
        return start + timedelta(days=((d - start).days // 7) * 7)
    return d.replace(day=1)


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
        .annotate(**_sum_annotations())
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


# --- reviews -------------------------------------------------------------------------------


def reviews_open(*, user) -> QuerySet[Review]:
    return (
        Review.objects.filter(agent__in=agents_visible_to(user).values("pk"), status="open")
        .select_related("agent", "agent__owner")
        .order_by("due_on")
    )


@dataclass
class DueItem:
    """A review that is due: an open review record, or an agent whose next scheduled review
    has not been opened yet (the beat task opens it on the day)."""

    agent: Agent
    due_on: date
    kind: str
    review: Review | None

    @property
    def is_overdue(self) -> bool:
        return self.due_on < timezone.localdate()


def reviews_due(*, user, start: date | None = None, end: date | None = None) -> list[DueItem]:
    """Open reviews plus scheduled reviews not yet opened, due in [start, end) if given."""
    items: list[DueItem] = []
    open_reviews = reviews_open(user=user)
    if start:
        open_reviews = open_reviews.filter(due_on__gte=start)
    if end:
        open_reviews = open_reviews.filter(due_on__lt=end)
    opened_due = set()
    for review in open_reviews:
        items.append(DueItem(agent=review.agent, due_on=review.due_on, kind=review.kind, review=review))
        if review.kind == "scheduled":
            opened_due.add((review.agent_id, review.due_on))
    agents = agents_visible_to(user).exclude(status="retired").filter(next_review_due__isnull=False)
    if start:
        agents = agents.filter(next_review_due__gte=start)
    if end:
        agents = agents.filter(next_review_due__lt=end)
    for agent in agents:
        if (agent.pk, agent.next_review_due) not in opened_due:
            items.append(DueItem(agent=agent, due_on=agent.next_review_due, kind="scheduled", review=None))
    items.sort(key=lambda i: (i.due_on, i.agent.name))
    return items


def reviews_overdue(*, user, today: date) -> list[DueItem]:
    return [i for i in reviews_due(user=user, end=today) if i.due_on < today]


def calendar_weeks(*, year: int, month: int, items: list[DueItem]) -> list[list[dict]]:
    """A Monday-first month grid; each day carries the reviews due that day."""
    by_day: dict[date, list[DueItem]] = defaultdict(list)
    for item in items:
        by_day[item.due_on].append(item)
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        weeks.append([{"date": d, "in_month": d.month == month, "items": by_day.get(d, [])} for d in week])
    return weeks
