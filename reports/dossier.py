"""The pre-filled figures of a review, as a JSON snapshot (so a completed review keeps the
numbers it was decided on, even after late runs change the rollups).

Incidents, evals and compliance violations come from apps built alongside this one; each is
read only if that app provides it, and otherwise marked unavailable — never guessed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.apps import apps
from django.utils import timezone

from registry.models import Review

from . import selectors


def _s(value) -> str | None:
    """Money as a string with cents (JSON has no decimals)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(selectors.money(value))
    return str(value)


def _p(value) -> str | None:
    """A percentage as computed (one decimal)."""
    return None if value is None else str(value)


def _model(label: str, name: str):
    try:
        return apps.get_model(label, name)
    except LookupError:
        return None


def _field_names(model) -> set[str]:
    return {f.name for f in model._meta.get_fields()}


def _first(names: set[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in names), None)


def build_snapshot(*, review: Review, today: date) -> dict:
    agent = review.agent
    end = min(review.period_end or today, today) + timedelta(days=1)
    start = review.period_start or end - timedelta(days=90)
    if start >= end:
        start = end - timedelta(days=1)
    roi = selectors.agent_roi(agent=agent, start=start, end=end)
    m = roi.metrics
    months = Decimal((end - start).days) / Decimal("30.4375")
    budget_for_period = agent.monthly_budget_usd * months
    return {
        "period": {
            "start": start.isoformat(),
            "end": (end - timedelta(days=1)).isoformat(),
            "days": (end - start).days,
        },
        "metrics": {
            "runs": m.runs,
            "success_rate_pct": _p(m.success_rate_pct),
            "success_threshold_pct": _p(agent.success_threshold_pct),
            "success_ok": None if not m.runs else m.success_rate_pct >= agent.success_threshold_pct,
            "escalation_rate_pct": _p(m.escalation_rate_pct),
            "escalation_threshold_pct": _p(agent.escalation_threshold_pct),
            "escalation_ok": None if not m.runs else m.escalation_rate_pct <= agent.escalation_threshold_pct,
            "intervention_rate_pct": _p(m.intervention_rate_pct),
            "containment_pct": _p(m.containment_pct),
            "error_rate_pct": _p(m.error_rate_pct),
            "policy_blocks": m.policy_blocks,
            "latency_p95_ms": m.latency_pct_ms(95),
            "aht_seconds": _p(m.aht_seconds),
        },
        "cost": {
            "model_cost_usd": _s(roi.model_cost_usd),
            "total_cost_usd": _s(roi.total_cost_usd),
            "budget_for_period_usd": _s(budget_for_period),
            "within_budget": None if not agent.monthly_budget_usd else roi.model_cost_usd <= budget_for_period,
            "cost_per_success_usd": _s(roi.cost_per_success_usd),
            "savings_usd": _s(roi.savings_usd),
            "annualized_savings_usd": _s(roi.annualized_savings_usd),
        },
        "incidents": _incidents(agent, start, end, roi),
        "evals": _evals(agent, start, end),
        "compliance": _compliance(agent, start, end),
    }


def _window(qs, names: set[str], start: date, end: date, *candidates: str):
    field = _first(names, *candidates)
    if not field:
        return qs
    return qs.filter(**{f"{field}__gte": selectors.day_start(start), f"{field}__lt": selectors.day_start(end)})


def _incidents(agent, start: date, end: date, roi) -> dict:
    Incident = _model("incidents", "Incident")
    if Incident is None or "agent" not in _field_names(Incident):
        return {"available": False}
    names = _field_names(Incident)
    qs = _window(Incident.objects.filter(agent=agent), names, start, end, "detected_at", "opened_at", "created_at")
    items = []
    for inc in qs.order_by("-pk")[:20]:
        items.append(
            {
                "id": inc.pk,
                "title": str(getattr(inc, "title", inc)),
                "severity": str(getattr(inc, "severity", "")),
                "status": str(getattr(inc, "status", "")),
            }
        )
    by_severity: dict[str, int] = {}
    if "severity" in names:
        for sev in qs.values_list("severity", flat=True):
            by_severity[str(sev)] = by_severity.get(str(sev), 0) + 1
    return {
        "available": True,
        "count": qs.count(),
        "by_severity": by_severity,
        "cost_usd": _s(roi.incident_cost_usd),
        "items": items,
    }


def _evals(agent, start: date, end: date) -> dict:
    """Pass rate of each completed eval run of the agent in the period, oldest first."""
    EvalRun = _model("evals", "EvalRun")
    if EvalRun is None or not {"agent", "pass_rate_pct", "finished_at"} <= _field_names(EvalRun):
        return {"available": False}
    qs = EvalRun.objects.filter(
        agent=agent,
        pass_rate_pct__isnull=False,
        finished_at__gte=selectors.day_start(start),
        finished_at__lt=selectors.day_start(end),
    ).order_by("finished_at")
    points = [
        {"when": timezone.localtime(when).date().isoformat(), "pass_rate_pct": _p(rate), "passed": passed}
        for when, rate, passed in qs.values_list("finished_at", "pass_rate_pct", "passed")[:60]
    ]
    return {"available": True, "points": points, "threshold_pct": _p(agent.success_threshold_pct)}


def _compliance(agent, start: date, end: date) -> dict:
    """Scope drift reported by ingest: runs from unapproved versions, other models,
    ungranted tools — counted in runs, per kind."""
    Violation = _model("telemetry", "ComplianceViolation")
    if Violation is None or not {"agent", "hour", "kind", "run_count"} <= _field_names(Violation):
        return {"available": False}
    qs = Violation.objects.filter(agent=agent, hour__gte=selectors.day_start(start), hour__lt=selectors.day_start(end))
    by_kind: dict[str, int] = {}
    for kind, runs in qs.values_list("kind", "run_count"):
        by_kind[str(kind)] = by_kind.get(str(kind), 0) + runs
    return {"available": True, "count": qs.count(), "runs": sum(by_kind.values()), "by_kind": by_kind}
