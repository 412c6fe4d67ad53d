"""Report rules: budget-burn alerts, investments. (The review workflow is registry's:
``registry.reviews``; reports contributes the figures, see ``reports.dossier``. Rollups are
telemetry's: ``telemetry.services.rollup_refresh``.)

Rules in one line each (details in the docstrings):
* a budget alert is raised at most once per agent and day, and mailed once;
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from registry.audit import acting_as
from registry.channels import Alert, notify
from registry.models import Agent
from telemetry import services as telemetry_services

from . import selectors
from .models import AgentInvestment, BudgetAlert

log = logging.getLogger(__name__)


# --- rollups -------------------------------------------------------------------------------

# Rollups are telemetry's (it owns runs); these names stay here for the reports' callers.
rollup_refresh = telemetry_services.rollup_refresh
rollup_rebuild = telemetry_services.rollup_rebuild


# --- budget burn ---------------------------------------------------------------------------


def budget_check(*, now: datetime | None = None) -> list[BudgetAlert]:
    """Raise an alert for every live agent whose month-to-date run cost, projected to the
    month's end, passes its monthly budget — at most one per agent and day (a unique
    constraint, so concurrent checks cannot both raise it). The owner is mailed after
    commit, once per alert. Returns the alerts raised by this call."""
    now = now or timezone.now()
    today = now.date()
    raised = []
    for burn in selectors.budget_burns(now=now):
        if not burn.over_budget:
            continue
        with transaction.atomic():
            alert, created = BudgetAlert.objects.get_or_create(
                agent=burn.agent,
                day=today,
                defaults={
                    "month_to_date_usd": burn.month_to_date_usd,
                    "projected_usd": burn.projected_usd,
                    "budget_usd": burn.budget_usd,
                },
            )
        if created:
            raised.append(alert)
            transaction.on_commit(lambda alert_id=alert.pk: _budget_alert_notify_enqueue(alert_id))
    return raised


def _budget_alert_notify_enqueue(alert_id: int) -> None:
    from .tasks import budget_alert_notify  # imported here: the task module imports this one

    budget_alert_notify.delay(alert_id=alert_id)


def budget_alert_notify(*, alert_id: int) -> bool:
    """Tell the agent's owner (and the alert channels, ``registry.channels.notify``) about a budget
    alert, once: the alert is claimed by
    compare-and-set on ``notified_at`` before sending (a redelivered task sends nothing);
    if sending fails the claim is released so a retry can send it."""
    now = timezone.now()
    if BudgetAlert.objects.filter(pk=alert_id, notified_at__isnull=True).update(notified_at=now) != 1:
        return False
    alert = BudgetAlert.objects.select_related("agent", "agent__owner").get(pk=alert_id)
    agent = alert.agent
    url = settings.QUORUM_BASE_URL + reverse("reports:agent_roi", kwargs={"slug": agent.slug})
    try:
        notify(
            Alert(
                kind="budget",
                dedup_key=f"budget:{alert.pk}",
                title=f"{agent.name} will pass its monthly budget",
                body=(
                    f"{agent.name} has spent {selectors.money(alert.month_to_date_usd)} USD this month. "
                    f"At this rate it will spend {alert.projected_usd} USD by the month's end, "
                    f"over its budget of {alert.budget_usd} USD."
                ),
                severity="warning",
                agent=agent,
                url=url,
                recipients=(agent.owner.email,) if agent.owner.email else (),
            )
        )
    except Exception:
        BudgetAlert.objects.filter(pk=alert_id).update(notified_at=None)
        raise
    return True


# --- investments ---------------------------------------------------------------------------


def investment_set(*, agent: Agent, build_cost_usd: Decimal, note: str = "", actor=None) -> AgentInvestment:
    """Record the one-time build cost of an agent (the basis of its payback period)."""
    if build_cost_usd is None or build_cost_usd < 0:
        raise ValidationError({"build_cost_usd": "The build cost is an amount in USD, zero or more."})
    with transaction.atomic(), acting_as(actor):
        investment, _ = AgentInvestment.objects.select_for_update().get_or_create(agent=agent)
        investment.build_cost_usd = build_cost_usd
        investment.note = note[:300]
        investment.updated_by = actor
        investment.save()
    return investment
