"""Demo data for the reports: rollups over the demo telemetry, build costs, the reviews that
are due, and today's budget check. Idempotent like every seeder: rollups are recomputed
from the runs, investments are only created when missing, reviews and alerts are unique."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from registry.models import Agent
from registry.reviews import reviews_open_due
from telemetry.selectors import rollups_are_current

from . import services
from .models import AgentInvestment

# slug -> one-time build cost (USD): what it took to build, integrate and roll out.
BUILD_COSTS = {
    "support-triage": "120000",
    "refund-assistant": "60000",
    "it-helpdesk": "45000",
    "order-status": "40000",
    "contract-clauses": "55000",
    "sales-leads": "18000",
    "knowledge-search": "25000",
    "invoice-matching": "30000",
    "sre-runbook": "50000",
    "churn-outreach": "20000",
    "meeting-notes": "12000",
}


def seed_reports(stdout=None, now=None) -> None:
    now = now or timezone.now()
    # Every run present now is in the rollups; the beat task takes over from here. A re-seed that
    # brought no new run leaves them alone (rebuilding 400 days took most of a `make run` re-start).
    buckets = 0
    if not rollups_are_current():
        buckets = services.rollup_rebuild(start=now - timedelta(days=400), end=now + timedelta(hours=1), watermark=now)
    for slug, cost in BUILD_COSTS.items():
        agent = Agent.objects.filter(slug=slug).first()
        if agent is not None:
            AgentInvestment.objects.get_or_create(agent=agent, defaults={"build_cost_usd": Decimal(cost)})
    opened = reviews_open_due(today=now.date())
    alerts = services.budget_check(now=now)
    if stdout is not None:
        stdout.write(
            f"Reports: {buckets} hourly buckets rolled up, {len(opened)} reviews opened, "
            f"{len(alerts)} budget alerts raised."
        )
