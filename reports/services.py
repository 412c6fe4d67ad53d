"""Report rules: budget-burn alerts, the review workflow, investments (rollups are telemetry's).

Rules in one line each (details in the docstrings):
* a budget alert is raised at most once per agent and day, and mailed once;
* a scheduled review opens when the agent's next review falls due (the tier cadence), once,
  and the owner and the board are mailed once, however often the beat task runs;
* completing a review needs findings and an outcome, and moves the agent's next due date.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from auditlog.context import set_actor
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from registry import roles
from registry.choices import ReviewKind, ReviewOutcome, ReviewStatus
from registry.models import Agent, Review
from telemetry import services as telemetry_services

from . import selectors
from .models import AgentInvestment, BudgetAlert, ReviewDossier

log = logging.getLogger(__name__)


def _setting(name: str, default):
    return getattr(settings, name, default)


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
            _enqueue_after_commit("reports.tasks.budget_alert_notify", alert_id=alert.pk)
    return raised


def budget_alert_notify(*, alert_id: int) -> bool:
    """Mail the agent's owner about a budget alert, once: the alert is claimed by
    compare-and-set on ``notified_at`` before sending (a redelivered task sends nothing);
    if sending fails the claim is released so a retry can send it."""
    now = timezone.now()
    if BudgetAlert.objects.filter(pk=alert_id, notified_at__isnull=True).update(notified_at=now) != 1:
        return False
    alert = BudgetAlert.objects.select_related("agent", "agent__owner").get(pk=alert_id)
    agent = alert.agent
    url = settings.QUORUM_BASE_URL + reverse("reports:agent_roi", kwargs={"slug": agent.slug})
    try:
        send_mail(
            subject=f"[Quorum] {agent.name} will pass its monthly budget",
            message=(
                f"{agent.name} has spent {selectors.money(alert.month_to_date_usd)} USD this month. "
                f"At this rate it will spend {alert.projected_usd} USD by the month's end, "
                f"over its budget of {alert.budget_usd} USD.\n\n{url}\n"
            ),
            from_email=None,
            recipient_list=[agent.owner.email] if agent.owner.email else [],
        )
    except Exception:
        BudgetAlert.objects.filter(pk=alert_id).update(notified_at=None)
        raise
    return True


# --- reviews -------------------------------------------------------------------------------


def reviews_open_due(*, today: date | None = None) -> list[Review]:
    """Open the scheduled review of every agent whose next review (tier cadence: tier 1
    quarterly, tier 2 semi-annual, tier 3 annual) falls due within
    ``REPORTS_REVIEW_LEAD_DAYS`` of ``today`` (or is overdue), unless it is already open.

    The unique constraint on (agent, due date) of scheduled reviews makes this idempotent
    even when two beat ticks race: only the call that created the row prepares the dossier
    and mails the owner and the board. Returns the reviews opened by this call."""
    today = today or timezone.localdate()
    horizon = today + timedelta(days=_setting("REPORTS_REVIEW_LEAD_DAYS", 14))
    opened = []
    due = Agent.objects.exclude(status__in=["retired", "proposed"]).filter(next_review_due__lte=horizon)
    for agent in due.select_related("owner"):
        with transaction.atomic():
            review, created = Review.objects.get_or_create(
                agent=agent,
                kind=ReviewKind.SCHEDULED,
                due_on=agent.next_review_due,
                defaults={
                    "reason": f"Tier {agent.risk_tier} cadence: every {agent.review_cadence_months} months.",
                    "period_start": _period_start(agent, agent.next_review_due),
                    "period_end": agent.next_review_due,
                },
            )
            if created:
                review_prepare(review=review)
        if created:
            opened.append(review)
            _enqueue_after_commit("reports.tasks.review_notify", review_id=review.pk)
    return opened


def _period_start(agent: Agent, due_on: date) -> date:
    if agent.last_reviewed_on:
        return agent.last_reviewed_on
    if agent.deployed_at:
        return timezone.localdate(agent.deployed_at)
    return due_on - timedelta(days=30 * agent.review_cadence_months)


@transaction.atomic
def review_open_ad_hoc(
    *, agent: Agent, kind: str, reason: str, actor=None, due_on: date | None = None, period_days: int = 90
) -> Review:
    """Open an ad-hoc review (after an incident or a scope change), pre-filled for the last
    ``period_days``, due in 14 days unless given. The owner and board are mailed once."""
    if kind not in (ReviewKind.AD_HOC_INCIDENT, ReviewKind.AD_HOC_SCOPE):
        raise ValidationError({"kind": "An ad-hoc review is for an incident or a scope change."})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this review is needed."})
    today = timezone.localdate()
    with set_actor(actor) if actor else _nullcontext():
        review = Review.objects.create(
            agent=agent,
            kind=kind,
            due_on=due_on or today + timedelta(days=14),
            reason=reason[:300],
            period_start=today - timedelta(days=period_days),
            period_end=today,
        )
        review_prepare(review=review)
    _enqueue_after_commit("reports.tasks.review_notify", review_id=review.pk)
    return review


def review_prepare(*, review: Review, now: datetime | None = None) -> ReviewDossier:
    """Fill (or refresh) the review's dossier for its period: metrics against thresholds,
    cost against budget, incidents, eval trend and compliance violations. Sources from apps
    that are not installed or not built yet are marked unavailable, never guessed."""
    from .dossier import build_snapshot

    now = now or timezone.now()
    snapshot = build_snapshot(review=review, today=now.date())
    dossier, _ = ReviewDossier.objects.update_or_create(
        review=review, defaults={"snapshot": snapshot, "prepared_at": now}
    )
    return dossier


def review_refresh(*, review_id: int, actor=None) -> ReviewDossier:
    """Re-read the figures of an open review (completed reviews keep what was decided on)."""
    with transaction.atomic():
        review = Review.objects.select_for_update().select_related("agent").get(pk=review_id)
        if review.status != ReviewStatus.OPEN:
            raise ValidationError("A completed review keeps the figures it was decided on.")
        with set_actor(actor) if actor else _nullcontext():
            return review_prepare(review=review)


def review_notify(*, review_id: int) -> bool:
    """Mail the agent's owner and every governance board member that a review is open —
    once: the dossier's ``notified_at`` is claimed by compare-and-set first; a failed send
    releases the claim for the retry."""
    now = timezone.now()
    if ReviewDossier.objects.filter(review_id=review_id, notified_at__isnull=True).update(notified_at=now) != 1:
        return False
    review = Review.objects.select_related("agent", "agent__owner").get(pk=review_id)
    agent = review.agent
    board = get_user_model().objects.filter(groups__name=roles.GOVERNANCE_BOARD, is_active=True).exclude(email="")
    recipients = sorted({u.email for u in board} | ({agent.owner.email} if agent.owner.email else set()))
    url = settings.QUORUM_BASE_URL + reverse("reports:review_detail", kwargs={"pk": review.pk})
    try:
        send_mail(
            subject=f"[Quorum] {review.get_kind_display()} review of {agent.name} due {review.due_on:%Y-%m-%d}",
            message=(
                f"A review of {agent.name} (tier {agent.risk_tier}) is open and due on {review.due_on:%Y-%m-%d}.\n"
                f"{review.reason}\n\nThe figures for {review.period_start} – {review.period_end} are pre-filled:\n"
                f"{url}\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        ReviewDossier.objects.filter(review_id=review_id).update(notified_at=None)
        raise
    return True


def review_complete(*, review_id: int, reviewer, findings: str, outcome: str) -> Review:
    """Complete an open review with the reviewer's findings and outcome (continue, change
    required, pause, retire). The review row and the agent are locked, so two board members
    completing at once cannot both succeed; the agent's ``last_reviewed_on`` becomes today,
    which moves its next due date by the tier cadence."""
    findings = (findings or "").strip()
    errors = {}
    if not findings:
        errors["findings"] = "Write the findings: what was looked at and what was found."
    if outcome not in ReviewOutcome.values:
        errors["outcome"] = "Choose an outcome: continue, change required, pause or retire."
    if errors:
        raise ValidationError(errors)
    today = timezone.localdate()
    with transaction.atomic(), set_actor(reviewer):
        review = Review.objects.select_for_update().get(pk=review_id)
        if review.status != ReviewStatus.OPEN:
            raise ValidationError("This review is already completed.")
        agent = Agent.objects.select_for_update().get(pk=review.agent_id)
        review.status = ReviewStatus.COMPLETED
        review.findings = findings
        review.outcome = outcome
        review.reviewer = reviewer
        review.completed_at = timezone.now()
        review.save()
        if agent.last_reviewed_on is None or agent.last_reviewed_on < today:
            agent.last_reviewed_on = today
            agent.save(update_fields=["last_reviewed_on"])
    return review


# --- investments ---------------------------------------------------------------------------


def investment_set(*, agent: Agent, build_cost_usd: Decimal, note: str = "", actor=None) -> AgentInvestment:
    """Record the one-time build cost of an agent (the basis of its payback period)."""
    if build_cost_usd is None or build_cost_usd < 0:
        raise ValidationError({"build_cost_usd": "The build cost is an amount in USD, zero or more."})
    with transaction.atomic(), set_actor(actor) if actor else _nullcontext():
        investment, _ = AgentInvestment.objects.select_for_update().get_or_create(agent=agent)
        investment.build_cost_usd = build_cost_usd
        investment.note = note[:300]
        investment.updated_by = actor
        investment.save()
    return investment


# --- plumbing ------------------------------------------------------------------------------


def _enqueue_after_commit(task_path: str, **kwargs) -> None:
    from django.utils.module_loading import import_string

    task = import_string(task_path)
    transaction.on_commit(lambda: task.delay(**kwargs))


def _nullcontext():
    from contextlib import nullcontext

    return nullcontext()


def optional_model(app_label: str, model_name: str):
    """A model of an app that may not be built yet (incidents, evals, telemetry extras)."""
    try:
        return apps.get_model(app_label, model_name)
    except LookupError:
        return None
