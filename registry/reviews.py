"""Review rules: opening reviews (scheduled and ad hoc), their pre-filled figures, the e-mail to
the owner and the board, completing them.

Rules in one line each (details in the docstrings):
* every review is opened by :func:`review_open`, whoever asks for it (the beat task, the board,
  an incident): it is pre-filled and the owner and the board are mailed once, after commit;
* a scheduled review opens when the agent's next review falls due (the tier cadence), once,
  however often the beat task runs (a unique constraint on agent and due date);
* completing a review needs findings and an outcome, and moves the agent's next due date.

The figures (metrics, cost, incidents, evals, compliance) belong to apps above registry, so they
come in through the ``registry.extensions.review_figures`` extension point: the app that reads
them registers a ``ReviewFigures`` from its ``AppConfig.ready()`` (reports does). Registry never
imports those apps.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import roles
from .audit import acting_as
from .channels import Alert, notify
from .choices import AgentStatus, ReviewKind, ReviewOutcome, ReviewStatus
from .extensions import review_figures
from .models import Agent, Review, ReviewDossier

AD_HOC_KINDS = (ReviewKind.AD_HOC_INCIDENT, ReviewKind.AD_HOC_SCOPE)
AD_HOC_DUE_DAYS = 14
AD_HOC_PERIOD_DAYS = 90


# --- the review page ----------------------------------------------------------------------


def review_page_url(review: Review) -> str:
    """The absolute URL of the review's page, from the first provider that has one; the
    agent's registry page when no installed app shows reviews."""
    for provider in review_figures:
        if provider.page_path is not None:
            return settings.QUORUM_BASE_URL + provider.page_path(review)
    return settings.QUORUM_BASE_URL + review.agent.get_absolute_url()


# --- opening -------------------------------------------------------------------------------


def review_open(
    *,
    agent: Agent,
    kind: str,
    due_on: date,
    reason: str,
    period_start: date,
    period_end: date,
    actor=None,
) -> tuple[Review, bool]:
    """Open a review of ``agent`` — the one way every review comes to exist.

    The review is pre-filled (:func:`review_prepare`) in the same transaction, and the owner and
    the board are mailed after commit (never inside the transaction: a rollback must not leave
    an e-mail about a review that does not exist). A scheduled review is unique per agent and
    due date (a database constraint), so two beat ticks racing open it once: the call that did
    not create it returns ``(existing, False)`` and mails nobody. Returns ``(review, created)``."""
    fields = {"reason": reason[:300], "period_start": period_start, "period_end": period_end}
    with transaction.atomic(), acting_as(actor):
        if kind == ReviewKind.SCHEDULED:
            review, created = Review.objects.get_or_create(agent=agent, kind=kind, due_on=due_on, defaults=fields)
        else:
            review, created = Review.objects.create(agent=agent, kind=kind, due_on=due_on, **fields), True
        if created:
            review_prepare(review=review)
            transaction.on_commit(lambda: _review_notify_enqueue(review.pk))
    return review, created


def _review_notify_enqueue(review_id: int) -> None:
    from .tasks import review_notify  # imported here: the task module imports this one

    review_notify.delay(review_id=review_id)


def reviews_open_due(*, today: date | None = None) -> list[Review]:
    """Open the scheduled review of every agent whose next review (tier cadence: tier 1
    quarterly, tier 2 semi-annual, tier 3 annual) falls due within
    ``REPORTS_REVIEW_LEAD_DAYS`` of ``today`` (or is overdue), unless it is already open.
    Returns the reviews opened by this call."""
    today = today or timezone.localdate()
    horizon = today + timedelta(days=getattr(settings, "REPORTS_REVIEW_LEAD_DAYS", 14))
    opened = []
    due = Agent.objects.exclude(status__in=[AgentStatus.RETIRED, AgentStatus.PROPOSED]).filter(
        next_review_due__lte=horizon
    )
    for agent in due.select_related("owner"):
        review, created = review_open(
            agent=agent,
            kind=ReviewKind.SCHEDULED,
            due_on=agent.next_review_due,
            reason=f"Tier {agent.risk_tier} cadence: every {agent.review_cadence_months} months.",
            period_start=_period_start(agent, agent.next_review_due),
            period_end=agent.next_review_due,
        )
        if created:
            opened.append(review)
    return opened


def _period_start(agent: Agent, due_on: date) -> date:
    if agent.last_reviewed_on:
        return agent.last_reviewed_on
    if agent.deployed_at:
        return timezone.localdate(agent.deployed_at)
    return due_on - timedelta(days=30 * agent.review_cadence_months)


def review_open_ad_hoc(
    *,
    agent: Agent,
    kind: str,
    reason: str,
    actor=None,
    due_on: date | None = None,
    period_days: int = AD_HOC_PERIOD_DAYS,
) -> Review:
    """Open an ad-hoc review (after an incident or a scope change), pre-filled for the last
    ``period_days``, due in 14 days unless given; the owner and the board are mailed once."""
    if kind not in AD_HOC_KINDS:
        raise ValidationError({"kind": "An ad-hoc review is for an incident or a scope change."})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this review is needed."})
    today = timezone.localdate()
    review, _ = review_open(
        agent=agent,
        kind=kind,
        due_on=due_on or today + timedelta(days=AD_HOC_DUE_DAYS),
        reason=reason,
        period_start=today - timedelta(days=period_days),
        period_end=today,
        actor=actor,
    )
    return review


# --- figures -------------------------------------------------------------------------------


def review_prepare(*, review: Review, now: datetime | None = None) -> ReviewDossier:
    """Fill (or refresh) the review's dossier for its period from every registered figures
    provider. With none installed the snapshot is empty and the page says no figures were
    prepared — never guessed."""
    now = now or timezone.now()
    snapshot: dict = {}
    for provider in review_figures:
        snapshot.update(provider.snapshot(review=review, today=now.date()))
    dossier, _ = ReviewDossier.objects.update_or_create(
        review=review, defaults={"snapshot": snapshot, "prepared_at": now}
    )
    return dossier


def review_refresh(*, review_id: int, actor=None) -> ReviewDossier:
    """Re-read the figures of an open review (completed reviews keep what was decided on).
    The row is locked so a refresh cannot interleave with the review being completed."""
    with transaction.atomic():
        review = Review.objects.select_for_update().select_related("agent").get(pk=review_id)
        if review.status != ReviewStatus.OPEN:
            raise ValidationError("A completed review keeps the figures it was decided on.")
        with acting_as(actor):
            return review_prepare(review=review)


# --- e-mail --------------------------------------------------------------------------------


def review_notify(*, review_id: int) -> bool:
    """Tell the agent's owner and every governance board member that a review is open (by e-mail
    and the alert channels, ``registry.channels.notify``) —
    once: the dossier's ``notified_at`` is claimed by compare-and-set first (a redelivered task
    sends nothing); a failed send releases the claim for the retry."""
    now = timezone.now()
    if ReviewDossier.objects.filter(review_id=review_id, notified_at__isnull=True).update(notified_at=now) != 1:
        return False
    review = Review.objects.select_related("agent", "agent__owner").get(pk=review_id)
    agent = review.agent
    board = get_user_model().objects.filter(groups__name=roles.GOVERNANCE_BOARD, is_active=True).exclude(email="")
    recipients = sorted({u.email for u in board} | ({agent.owner.email} if agent.owner.email else set()))
    try:
        notify(
            Alert(
                kind="review",
                dedup_key=f"review:{review.pk}",
                title=f"{review.get_kind_display()} review of {agent.name} due {review.due_on:%Y-%m-%d}",
                body=(
                    f"A review of {agent.name} (tier {agent.risk_tier}) is open and due on {review.due_on:%Y-%m-%d}.\n"
                    f"{review.reason}\n\nThe figures for {review.period_start} – {review.period_end} are pre-filled."
                ),
                severity="info",
                agent=agent,
                url=review_page_url(review),
                recipients=tuple(recipients),
            )
        )
    except Exception:
        ReviewDossier.objects.filter(review_id=review_id).update(notified_at=None)
        raise
    return True


# --- completing ----------------------------------------------------------------------------


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
    with transaction.atomic(), acting_as(reviewer):
        review = Review.objects.select_for_update().get(pk=review_id)
        if review.status != ReviewStatus.OPEN:
            raise ValidationError("This review is already completed.")
        agent = Agent.objects.select_for_update(no_key=True).get(pk=review.agent_id)
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
