"""Reads of the monitors app: the runs an SLO counts, a monitor condition's value, what is in alert."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from evals.choices import RunSource
from evals.choices import RunStatus as EvalStatus
from evals.models import EvalRun
from registry.choices import VersionState
from registry.models import AgentVersion
from telemetry.choices import RunOutcome, RunStatus
from telemetry.latency import EDGES_MS, merge, percentile_ms
from telemetry.models import FiveMinuteRollup, Run
from telemetry.rollups import TruncFiveMinutes

from .burn import Bucket
from .choices import Level, Metric, Scope
from .models import SLO, Monitor

RATE_METRICS = {
    Metric.SUCCESS_RATE: "successes",
    Metric.ERROR_RATE: "errored_or_failed",
    Metric.ESCALATION_RATE: "escalations",
    Metric.PROVIDER_429_RATE: "provider_throttled",
}
SUM_METRICS = {Metric.RUNS: "runs", Metric.COST_USD: "cost_usd", Metric.POLICY_BLOCKS: "policy_blocks"}


def fast_bucket_count(threshold_ms: int) -> int:
    """Latency-histogram buckets wholly under ``threshold_ms`` (bucket i holds latencies under EDGES_MS[i])."""
    return sum(1 for edge in EDGES_MS if edge <= threshold_ms)


def _fast_runs_sql(threshold_ms: int) -> RawSQL:
    """Runs of a rollup row under the threshold: the sum of its first latency-histogram buckets,
    added up in the database so a pass never ships the histograms (the bucket count is an int
    computed here, never input)."""
    fast = fast_bucket_count(threshold_ms)
    terms = [f"COALESCE((latency_hist->>{i})::bigint, 0)" for i in range(fast)] or ["0"]
    return RawSQL("(" + " + ".join(terms) + ")", [])  # noqa: S611 - integers from fast_bucket_count only


def slo_buckets(slo: SLO, *, start: datetime, end: datetime) -> list[Bucket]:
    """The SLO's five-minute buckets in [start, end): from the five-minute rollups for the whole
    agent (summed over versions in the database), from the raw runs (one agent, a few days, indexed
    by agent and start) for one channel, since the rollups do not split by channel."""
    if slo.channel:
        return _channel_buckets(slo, start=start, end=end)
    rows = (
        FiveMinuteRollup.objects.filter(agent_id=slo.agent_id, bucket_start__gte=start, bucket_start__lt=end)
        .values("bucket_start")
        .annotate(n=Sum("runs"), bad=Sum("errored_or_failed"), fast=Sum(_fast_runs_sql(slo.latency_threshold_ms)))
        .order_by("bucket_start")
    )
    # PostgreSQL sums bigints as numeric: back to int, so burn rates are plain float arithmetic.
    return [Bucket(r["bucket_start"], int(r["n"]), int(r["bad"]), int(r["n"] - r["fast"])) for r in rows]


def slo_period_total(slo: SLO, *, start: datetime, end: datetime) -> Bucket:
    """The SLO's whole period [start, end) as one bucket (runs, unavailable, slow): one aggregate."""
    if slo.channel:
        buckets = _channel_buckets(slo, start=start, end=end)
        return Bucket(
            start, sum(b.runs for b in buckets), sum(b.unavailable for b in buckets), sum(b.slow for b in buckets)
        )
    totals = FiveMinuteRollup.objects.filter(
        agent_id=slo.agent_id, bucket_start__gte=start, bucket_start__lt=end
    ).aggregate(n=Sum("runs"), bad=Sum("errored_or_failed"), fast=Sum(_fast_runs_sql(slo.latency_threshold_ms)))
    runs = int(totals["n"] or 0)
    return Bucket(start, runs, int(totals["bad"] or 0), runs - int(totals["fast"] or 0))


def _channel_buckets(slo: SLO, *, start: datetime, end: datetime) -> list[Bucket]:
    fast_below = EDGES_MS[fast_bucket_count(slo.latency_threshold_ms) - 1] if slo.latency_threshold_ms >= 10 else 0
    bad = ~Q(status=RunStatus.OK) | Q(outcome=RunOutcome.FAILED)
    rows = (
        Run.objects.filter(agent_id=slo.agent_id, channel=slo.channel, started_at__gte=start, started_at__lt=end)
        .annotate(bucket=TruncFiveMinutes("started_at"))
        .values("bucket")
        .annotate(runs=Count("id"), bad=Count("id", filter=bad), fast=Count("id", filter=Q(latency_ms__lt=fast_below)))
        .order_by("bucket")
    )
    return [Bucket(r["bucket"], r["runs"], r["bad"], r["runs"] - r["fast"]) for r in rows]


def _scope_rollups(monitor: Monitor) -> QuerySet:
    qs = FiveMinuteRollup.objects.all()
    if monitor.scope == Scope.AGENT:
        return qs.filter(agent_id=monitor.agent_id)
    if monitor.scope == Scope.TEAM:
        return qs.filter(agent__owner_team_id=monitor.team_id)
    return qs


def eval_failing_count(monitor: Monitor) -> int:
    """Agents in the monitor's scope whose live (deployed) version's latest scheduled eval failed:
    completed under its threshold, or errored."""
    versions = AgentVersion.objects.filter(state=VersionState.DEPLOYED)
    if monitor.scope == Scope.AGENT:
        versions = versions.filter(agent_id=monitor.agent_id)
    elif monitor.scope == Scope.TEAM:
        versions = versions.filter(agent__owner_team_id=monitor.team_id)
    failing = 0
    for version_id in versions.values_list("pk", flat=True):
        latest = (
            EvalRun.objects.filter(version_id=version_id, source=RunSource.SCHEDULE)
            .exclude(status__in=[EvalStatus.QUEUED, EvalStatus.RUNNING])
            .order_by("-created_at")
            .values_list("status", "passed")
            .first()
        )
        if latest and (latest[0] == EvalStatus.FAILED or latest[1] is False):
            failing += 1
    return failing


def condition_value(monitor: Monitor, metric: str, *, start: datetime, end: datetime) -> Decimal | None:
    """The metric over [start, end) for the monitor's scope; None when there is no data (no runs
    for a rate or a percentile)."""
    if metric == Metric.EVAL_FAILING:
        return Decimal(eval_failing_count(monitor))
    rows = _scope_rollups(monitor).filter(bucket_start__gte=start, bucket_start__lt=end)
    if metric == Metric.P95_LATENCY_MS:
        p95 = percentile_ms(merge(rows.values_list("latency_hist", flat=True)), 95)
        return None if p95 is None else Decimal(p95)
    if metric in SUM_METRICS:
        field = SUM_METRICS[metric]
        return Decimal(rows.aggregate(v=Sum(field))["v"] or 0)
    totals = rows.aggregate(runs=Coalesce(Sum("runs"), 0), part=Coalesce(Sum(RATE_METRICS[metric]), 0))
    if not totals["runs"]:
        return None
    return (Decimal(100) * totals["part"] / totals["runs"]).quantize(Decimal("0.01"))


def slos_for_agents(agent_ids: list[int]) -> list[SLO]:
    """The active SLOs of these agents, worst first (the portfolio's SLO table): one query."""
    rank = {Level.ALERT: 0, Level.WARNING: 1, Level.OK: 2}
    slos = SLO.objects.filter(agent_id__in=agent_ids, is_active=True).select_related("agent")
    return sorted(slos, key=lambda s: (rank.get(s.level, 3), s.agent.name, s.channel))


def slos_of(agent) -> list[SLO]:
    return list(SLO.objects.filter(agent=agent, is_active=True))


def monitors_of(agent) -> list[Monitor]:
    """Monitors watching this agent: its own, its team's and the portfolio's."""
    scope = Q(agent=agent) | Q(scope=Scope.TEAM, team_id=agent.owner_team_id) | Q(scope=Scope.PORTFOLIO)
    return list(Monitor.objects.filter(scope, is_active=True).prefetch_related("conditions"))


def firing(*, agent_ids=None) -> tuple[list[SLO], list[Monitor]]:
    """SLOs and monitors at warning or alert (SLOs of these agents only, when given)."""
    levels = [Level.WARNING, Level.ALERT]
    slos = SLO.objects.filter(is_active=True, level__in=levels).select_related("agent")
    monitors = Monitor.objects.filter(is_active=True, level__in=levels).select_related("agent", "team")
    if agent_ids is not None:
        slos = slos.filter(agent_id__in=agent_ids)
        monitors = monitors.filter(Q(agent_id__in=agent_ids) | Q(agent__isnull=True))
    return list(slos.order_by("-level", "agent__name")), list(monitors.order_by("-level", "name"))
