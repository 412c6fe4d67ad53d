"""The reports' contributions to shared pages: the home panel (budget alerts, reviews due)
and a section on the agent card (ROI at a glance, next review, budget burn)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from registry.choices import ReviewStatus

from . import selectors
from .forms import EvidenceForm


def reports_home_panel(request):
    user = request.user
    if not user.has_perm("reports.view_reports"):
        return None
    today = timezone.localdate()
    alerts = selectors.budget_alerts_current(user=user, today=today)
    due = selectors.reviews_due(user=user, end=today + timedelta(days=31))
    return {
        "template": "reports/panels/home.html",
        "alerts": alerts,
        "due": due[:15],
        "due_count": len(due),
        "overdue_count": sum(1 for i in due if i.is_overdue),
    }


def reports_agent_section(request, agent):
    if not request.user.has_perm("reports.view_reports"):
        return None
    today = timezone.localdate()
    roi = selectors.agent_roi(agent=agent, start=today - timedelta(days=29), end=today + timedelta(days=1))
    burn = next(iter(selectors.budget_burns(now=timezone.now(), agents=type(agent).objects.filter(pk=agent.pk))), None)
    open_review = agent.reviews.filter(status=ReviewStatus.OPEN).order_by("due_on").first()
    return {"template": "reports/sections/agent_card.html", "roi": roi, "burn": burn, "open_review": open_review}


def evidence_agent_section(request, agent):
    """The evidence-export button on the agent card: auditors and the board only."""
    if not request.user.has_perm("registry.view_auditentry"):
        return None
    return {"template": "reports/sections/evidence.html", "agent": agent, "form": EvidenceForm()}
