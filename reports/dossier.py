"""The pre-filled figures of a review, as a JSON snapshot (so a completed review keeps the
numbers it was decided on, even after late runs change the rollups).

Registry owns reviews and calls :func:`build_snapshot` through its ``review_figures`` extension
point (registered in ``ReportsConfig.ready()``). The figures read the other apps through their
selectors, by plain import: a renamed field there fails a test here instead of turning a
review's figures into "unavailable"."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from evals.selectors import eval_pass_rates_between
from incidents.selectors import incidents_of_agent_between
from registry.extensions import ReviewFigures
from registry.models import Review
from telemetry.selectors import violations_of_agent_between

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


def _incidents(agent, start: date, end: date, roi) -> dict:
    incidents = incidents_of_agent_between(agent=agent, start=selectors.day_start(start), end=selectors.day_start(end))
    items = [
        {"id": inc.pk, "title": inc.title, "severity": inc.severity, "status": inc.status} for inc in incidents[:20]
    ]
    by_severity = Counter(incidents.values_list("severity", flat=True))
    return {
        "available": True,
        "count": incidents.count(),
        "by_severity": dict(by_severity),
        "cost_usd": _s(roi.incident_cost_usd),
        "items": items,
    }


def _evals(agent, start: date, end: date) -> dict:
    """Pass rate of each completed eval run of the agent in the period, oldest first."""
    rates = eval_pass_rates_between(agent=agent, start=selectors.day_start(start), end=selectors.day_start(end))
    points = [
        {"when": timezone.localtime(when).date().isoformat(), "pass_rate_pct": _p(rate), "passed": passed}
        for when, rate, passed in rates
    ]
    return {"available": True, "points": points, "threshold_pct": _p(agent.success_threshold_pct)}


def _compliance(agent, start: date, end: date) -> dict:
    """Scope drift reported by ingest: runs from unapproved versions, other models,
    ungranted tools — counted in runs, per kind."""
    violations = violations_of_agent_between(
        agent=agent, start=selectors.day_start(start), end=selectors.day_start(end)
    )
    by_kind: Counter[str] = Counter()
    for kind, runs in violations.values_list("kind", "run_count"):
        by_kind[kind] += runs
    return {"available": True, "count": violations.count(), "runs": sum(by_kind.values()), "by_kind": dict(by_kind)}


def _review_page_path(review: Review) -> str:
    return reverse("reports:review_detail", kwargs={"pk": review.pk})


# Registered from ReportsConfig.ready(): registry pre-fills every review it opens with these.
REVIEW_FIGURES = ReviewFigures(snapshot=build_snapshot, page_path=_review_page_path)
