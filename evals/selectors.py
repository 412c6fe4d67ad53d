"""Eval reads: what a user may see, run trends, telemetry windows for drift checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum

from registry.selectors import agents_visible_to
from telemetry.choices import RunOutcome, RunStatus
from telemetry.latency import percentile_estimate_ms
from telemetry.models import Run

from .choices import AlertStatus
from .choices import RunStatus as EvalRunStatus
from .drift_stats import percentile
from .models import DriftAlert, EvalRun, GoldenSet

OUTCOMES = tuple(RunOutcome.values)


def goldensets_visible_to(user) -> QuerySet[GoldenSet]:
    return GoldenSet.objects.filter(agent__in=agents_visible_to(user)).select_related("agent")


def evalruns_visible_to(user) -> QuerySet[EvalRun]:
    return EvalRun.objects.filter(agent__in=agents_visible_to(user)).select_related(
        "agent", "version", "set_version__golden_set"
    )


def alerts_visible_to(user) -> QuerySet[DriftAlert]:
    return DriftAlert.objects.filter(agent__in=agents_visible_to(user)).select_related("agent")


def open_alerts_visible_to(user) -> QuerySet[DriftAlert]:
    return alerts_visible_to(user).exclude(status=AlertStatus.RESOLVED)


def open_alert_count(user) -> int:
    """Nav badge: unresolved drift alerts on agents the user can see."""
    return open_alerts_visible_to(user).count()


def pass_rate_trend(agent, limit: int = 30) -> list[EvalRun]:
    """The agent's last completed runs, oldest first, for the trend chart."""
    runs = (
        EvalRun.objects.filter(agent=agent, status=EvalRunStatus.COMPLETED)
        .select_related("version", "set_version__golden_set")
        .order_by("-finished_at")[:limit]
    )
    return list(reversed(runs))


@dataclass(frozen=True)
class WindowStats:
    """Telemetry of one agent over [start, end): counts by outcome, errors, cost, latency."""

    start: datetime
    end: datetime
    runs: int
    outcomes: dict[str, int]
    errors: int
    cost_total_usd: Decimal
    latency_p95_ms: float | None

    @property
    def resolved(self) -> int:
        return self.outcomes.get(RunOutcome.RESOLVED, 0)

    @property
    def escalated(self) -> int:
        return self.outcomes.get(RunOutcome.ESCALATED, 0)

    @property
    def cost_per_run_usd(self) -> Decimal | None:
        return (self.cost_total_usd / self.runs) if self.runs else None

    def as_evidence(self) -> dict:
        data = asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        data["cost_total_usd"] = str(self.cost_total_usd)
        cpr = self.cost_per_run_usd
        data["cost_per_run_usd"] = str(cpr.quantize(Decimal("0.000001"))) if cpr is not None else None
        return data


def telemetry_window(*, agent_id: int, start: datetime, end: datetime, with_latency: bool = True) -> WindowStats:
    """One aggregate query (plus an exact percentile) over the agent's raw runs started in the
    window: the reference the rollup-based drift windows (:func:`window_stats`) are tested
    against. Drift checks themselves read rollups."""
    runs = Run.objects.filter(agent_id=agent_id, started_at__gte=start, started_at__lt=end, shadow=False)
    aggregates = {f"o_{o}": Count("pk", filter=Q(outcome=o)) for o in OUTCOMES}
    row = runs.aggregate(
        n=Count("pk"),
        errors=Count("pk", filter=Q(status__in=[RunStatus.ERROR, RunStatus.TIMEOUT]) | Q(outcome=RunOutcome.FAILED)),
        cost=Sum("cost_usd"),
        **aggregates,
    )
    p95 = None
    if with_latency and row["n"]:
        p95 = _latency_p95(runs)
    return WindowStats(
        start=start,
        end=end,
        runs=row["n"],
        outcomes={o: row[f"o_{o}"] for o in OUTCOMES},
        errors=row["errors"],
        cost_total_usd=row["cost"] or Decimal("0"),
        latency_p95_ms=p95,
    )


def window_stats(counts, *, with_latency: bool = True) -> WindowStats:
    """A drift window from telemetry's counts (``telemetry.selectors.RunCounts``, read from
    rollups); the p95 is interpolated inside its latency-histogram bucket."""
    p95 = percentile_estimate_ms(counts.latency_hist, 95) if with_latency and counts.runs else None
    return WindowStats(
        start=counts.start,
        end=counts.end,
        runs=counts.runs,
        outcomes={o: counts.outcomes.get(o, 0) for o in OUTCOMES},
        errors=counts.errored_or_failed,
        cost_total_usd=counts.cost_usd,
        latency_p95_ms=float(p95) if p95 is not None else None,
    )


def _latency_p95(runs: QuerySet) -> float | None:
    if connection.vendor == "postgresql":
        # The percentile is computed in the database: a day of runs never travels to Python.
        sql, params = runs.values("latency_ms").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY sub.latency_ms) FROM ({sql}) sub",  # noqa: S608
                params,
            )
            value = cursor.fetchone()[0]
        return float(value) if value is not None else None
    return percentile(list(runs.values_list("latency_ms", flat=True)), 0.95)


def eval_pass_rates_between(*, agent, start: datetime, end: datetime, limit: int = 60) -> list[tuple]:
    """``(finished_at, pass_rate_pct, passed)`` of the agent's scored eval runs finished in
    [start, end), oldest first (a review's eval trend)."""
    runs = EvalRun.objects.filter(
        agent=agent, pass_rate_pct__isnull=False, finished_at__gte=start, finished_at__lt=end
    ).order_by("finished_at")
    return list(runs.values_list("finished_at", "pass_rate_pct", "passed")[:limit])


def agents_evaluated_since(*, since: datetime, agent_status: str) -> set[int]:
    """Ids of the agents in ``agent_status`` with an eval run completed since ``since``."""
    runs = EvalRun.objects.filter(agent__status=agent_status, status=EvalRunStatus.COMPLETED, finished_at__gte=since)
    return set(runs.values_list("agent_id", flat=True))
