"""Reads for rollouts: one version's run figures over a window (gates, A/B lift), shadow against
production per day, and the plans to show. Shadow runs never count as production here or
anywhere else; they are read only where a comparison asks for them by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, F, FloatField, Q, QuerySet, Sum
from django.db.models.aggregates import Aggregate
from django.db.models.functions import Cast, TruncDate

from registry.models import Agent, AgentVersion
from telemetry.choices import RunOutcome
from telemetry.models import ComplianceViolation, Run

from . import stats
from .choices import PlanStatus
from .models import RolloutPlan


class P95(Aggregate):
    """PostgreSQL ``percentile_cont(0.95)`` (the drift checks' definition of p95)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.95) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _sum_aggregates() -> dict:
    ok = Q(outcome=RunOutcome.RESOLVED)
    cost = Cast("cost_usd", FloatField())
    seconds = Cast("latency_ms", FloatField()) / 1000.0
    return {
        "n": Count("id"),
        "successes": Count("id", filter=ok),
        "escalations": Count("id", filter=Q(outcome=RunOutcome.ESCALATED)),
        "cost": Sum(cost, default=0.0),
        "cost_sq": Sum(cost * cost, default=0.0),
        "cost_success": Sum(cost, filter=ok, default=0.0),
        "latency": Sum(seconds, default=0.0),
        "latency_sq": Sum(seconds * seconds, default=0.0),
        "p95_ms": P95("latency_ms"),
    }


def _sums(row: dict) -> stats.Sums:
    return stats.Sums(**{k: row[k] or 0 for k in stats.Sums.__dataclass_fields__})


@dataclass(frozen=True)
class VersionFigures:
    sums: stats.Sums
    p95_ms: float | None


def version_figures(
    *, agent: Agent, version_id: int, start: datetime, end: datetime, shadow: bool = False
) -> VersionFigures:
    """One version's runs started in [start, end): production runs, or shadow runs if asked."""
    row = Run.objects.filter(
        agent=agent, version_id=version_id, started_at__gte=start, started_at__lt=end, shadow=shadow
    ).aggregate(**_sum_aggregates())
    return VersionFigures(_sums(row), row["p95_ms"])


def new_violations(*, agent: Agent, version_id: int, since: datetime) -> int:
    """Runs of ``version_id`` counted in compliance violations first seen since ``since``."""
    return ComplianceViolation.objects.filter(agent=agent, version_id=version_id, first_seen_at__gte=since).aggregate(
        total=Sum("run_count", default=0)
    )["total"]


@dataclass(frozen=True)
class Lift:
    """B against A over one window: each side's figures and B − A with 95 % intervals."""

    a: stats.Sums
    b: stats.Sums
    success: stats.Estimate
    escalation: stats.Estimate
    cost_per_success: stats.Estimate
    handle_time_s: stats.Estimate
    a_rates: dict
    b_rates: dict


def _rates(s: stats.Sums) -> dict:
    return {
        "success": stats.proportion(s.successes, s.n),
        "escalation": stats.proportion(s.escalations, s.n),
        "cost_per_success": stats.cost_per_success(s),
        "handle_time_s": stats.mean(s.latency, s.latency_sq, s.n),
    }


def lift_between(a: stats.Sums, b: stats.Sums) -> Lift:
    return Lift(
        a=a,
        b=b,
        success=stats.proportion_diff(a.successes, a.n, b.successes, b.n),
        escalation=stats.proportion_diff(a.escalations, a.n, b.escalations, b.n),
        cost_per_success=stats.cost_per_success_diff(a, b),
        handle_time_s=stats.mean_diff((a.latency, a.latency_sq, a.n), (b.latency, b.latency_sq, b.n)),
        a_rates=_rates(a),
        b_rates=_rates(b),
    )


def version_lift(*, agent: Agent, a: AgentVersion, b: AgentVersion, start: datetime, end: datetime) -> Lift:
    """A/B lift of production runs of version ``b`` over version ``a`` started in [start, end)."""
    fa = version_figures(agent=agent, version_id=a.pk, start=start, end=end)
    fb = version_figures(agent=agent, version_id=b.pk, start=start, end=end)
    return lift_between(fa.sums, fb.sums)


@dataclass(frozen=True)
class ShadowDay:
    day: date
    production: stats.Sums
    shadow: stats.Sums
    lift: Lift
    production_mix: dict[str, int]
    shadow_mix: dict[str, int]


def shadow_vs_production(*, agent: Agent, start: datetime, end: datetime) -> list[ShadowDay]:
    """Per UTC day with shadow runs: shadow against production on success, escalation, cost per
    success and latency (with 95 % intervals) and the outcome mix, for runs started in [start, end)."""
    runs = Run.objects.filter(agent=agent, started_at__gte=start, started_at__lt=end).annotate(
        day=TruncDate("started_at")
    )
    rows = runs.values("day", "shadow").annotate(**_sum_aggregates())
    by_key = {(r["day"], r["shadow"]): _sums(r) for r in rows}
    mix: dict[tuple, dict[str, int]] = {}
    for r in runs.values("day", "shadow", "outcome").annotate(count=Count("id")):
        mix.setdefault((r["day"], r["shadow"]), {})[r["outcome"]] = r["count"]
    days = sorted({day for day, shadow in by_key if shadow})
    empty = stats.Sums()
    return [
        ShadowDay(
            day=day,
            production=by_key.get((day, False), empty),
            shadow=by_key[(day, True)],
            lift=lift_between(by_key.get((day, False), empty), by_key[(day, True)]),
            production_mix=mix.get((day, False), {}),
            shadow_mix=mix.get((day, True), {}),
        )
        for day in days
    ]


def shadow_versions(*, agent: Agent) -> QuerySet[AgentVersion]:
    """Versions of ``agent`` that sent shadow runs (candidates for a canary plan)."""
    ids = Run.objects.filter(agent=agent, shadow=True, version__isnull=False).values("version_id").distinct()
    return agent.versions.filter(pk__in=ids).order_by("-pk")


def plans_of(*, agent: Agent) -> QuerySet[RolloutPlan]:
    return agent.rollout_plans.select_related("version", "baseline_version").prefetch_related("gate_checks")


def plan_open(*, agent: Agent) -> RolloutPlan | None:
    return plans_of(agent=agent).filter(status__in=[PlanStatus.ACTIVE, PlanStatus.HALTED]).first()


def plans_in_progress(*, agents: QuerySet[Agent]) -> QuerySet[RolloutPlan]:
    return (
        RolloutPlan.objects.filter(agent__in=agents, status__in=[PlanStatus.ACTIVE, PlanStatus.HALTED])
        .select_related("agent", "version")
        .order_by(F("stage_started_at").asc())
    )


def plan_timeline(plan: RolloutPlan) -> list[dict]:
    """The plan's stages (and the go-live) with each one's state and latest gate results."""
    checks = {c.stage_index: c for c in plan.gate_checks.all()}
    rows = []
    for index, stage in enumerate(plan.stages):
        state = "done" if index < plan.stage_index or plan.status == "completed" else "upcoming"
        if index == plan.stage_index and plan.status != "completed":
            state = "current"
        rows.append({"index": index + 1, "share": stage["share_pct"], "hours": stage["min_hours"], "state": state,
                     "check": checks.get(index)})  # fmt: skip
    rows.append({"index": len(plan.stages) + 1, "share": "100", "hours": None, "check": None,
                 "state": "done" if plan.status == "completed" else "upcoming"})  # fmt: skip
    return rows
