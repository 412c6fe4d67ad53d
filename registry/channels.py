"""Where Quorum's alerts go: one call, :func:`notify`, for every app that needs to tell people.

Approval requests, budget alerts, overdue reviews, drift alerts, monitor and SLO alerts all call
:func:`notify` with an :class:`Alert`. Delivery to channels (e-mail, Slack, Microsoft Teams,
PagerDuty, signed webhooks), per-user and per-team preferences, retries and de-duplication live
behind it, so a caller never knows which channels exist.

The rules (each stated again where it is enforced):

* **One alert, one notification per channel.** An alert is open from its first ``notify`` until a
  ``notify(resolved=True)`` with the same ``dedup_key``; ``AlertRecord`` allows one open record per
  key (a partial unique constraint), and ``Notification`` one row per alert, channel and event. An
  evaluation that runs again and again calls ``notify`` again and again; only the first sends.
* **Resolved when the condition clears**: every channel that was sent the trigger is sent the
  resolution (PagerDuty ``resolve`` with the same ``dedup_key``, a "Resolved" message elsewhere).
* **Who gets it**: the active channels whose team is the alert's team (or the agent's team) or
  none (organisation-wide), filtered by the channel's alert kinds and minimum severity (the team's
  preference); and the caller's ``recipients`` by e-mail, minus people who turned that alert kind
  off for themselves (``AlertPreference``, the person's preference).
* **Delivery** is a Celery task per notification (``registry.notification_deliver``), after
  commit, through the outbound guard (``registry/outbound.py``), retried with backoff on connection
  errors and 5xx/408/429 answers; a refused address or a 4xx is recorded and not retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .audit import acting_as
from .channel_models import PAGERDUTY_EVENTS_URL, AlertChannel, AlertPreference, AlertRecord, Notification
from .choices import NotificationEvent, NotificationStatus
from .webhook_signing import webhook_secret_new

if TYPE_CHECKING:
    from .models import Agent, Team


@dataclass(frozen=True)
class Alert:
    """One thing to tell people.

    ``kind`` is the alert's family (``approval_request``, ``budget``, ``review_overdue``,
    ``drift``, ``monitor``, ``slo_burn``, ``rollout``, ...), which preferences filter on.
    ``dedup_key`` identifies the condition: however often it is evaluated, one open alert sends
    one notification per channel; ``resolved=True`` with the same key closes it.
    ``recipients`` are e-mail addresses known to the caller (owners, approvers)."""

    kind: str
    dedup_key: str
    title: str
    body: str = ""
    severity: str = "warning"  # "info" | "warning" | "critical"
    agent: Agent | None = None
    team: Team | None = None
    url: str = ""
    recipients: tuple[str, ...] = ()
    resolved: bool = False
    details: dict = field(default_factory=dict)


def notify(alert: Alert) -> int:
    """Open (or resolve) ``alert`` and queue its notifications; returns how many were queued.

    Calling it again for an alert already open queues nothing (de-duplication); resolving an alert
    that is not open does nothing. Safe inside the caller's transaction: the deliveries are queued
    when it commits."""
    with transaction.atomic():
        now = timezone.now()
        ids = _resolve(alert, now) if alert.resolved else _trigger(alert, now)
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))
    return len(ids)


def _enqueue(ids: list[int]) -> None:
    from .tasks import notification_deliver  # the task module imports this one

    for notification_id in ids:
        notification_deliver.delay(notification_id=notification_id)


def _trigger(alert: Alert, now: datetime) -> list[int]:
    # Race: two evaluations of the same condition at once. The open record is locked if it exists;
    # if not, both try to create it and the partial unique constraint lets exactly one succeed.
    record = AlertRecord.objects.select_for_update().filter(dedup_key=alert.dedup_key, resolved_at__isnull=True).first()
    if record is not None:
        AlertRecord.objects.filter(pk=record.pk).update(last_seen_at=now)
        return []
    try:
        with transaction.atomic():
            record = AlertRecord.objects.create(
                dedup_key=alert.dedup_key[:200],
                kind=alert.kind,
                title=alert.title[:300],
                body=alert.body,
                severity=alert.severity,
                url=alert.url[:500],
                agent=alert.agent,
                team_id=alert.team.pk if alert.team is not None else getattr(alert.agent, "owner_team_id", None),
                recipients=recipients_wanting(kind=alert.kind, emails=alert.recipients),
                details=alert.details,
                opened_at=now,
                last_seen_at=now,
            )
    except IntegrityError:
        return []  # the other evaluation opened it and sends its notifications
    rows = [Notification(alert=record, channel=c, event=NotificationEvent.TRIGGER) for c in channels_for(record)]
    if record.recipients:
        rows.append(Notification(alert=record, channel=None, event=NotificationEvent.TRIGGER))
    return [n.pk for n in Notification.objects.bulk_create(rows)]


def _resolve(alert: Alert, now: datetime) -> list[int]:
    # Race: a resolution and a trigger (or two resolutions) at once; the open record is locked.
    record = AlertRecord.objects.select_for_update().filter(dedup_key=alert.dedup_key, resolved_at__isnull=True).first()
    if record is None:
        return []
    record.resolved_at = now
    record.save(update_fields=["resolved_at"])
    told = record.notifications.filter(event=NotificationEvent.TRIGGER).exclude(
        status__in=[NotificationStatus.REFUSED, NotificationStatus.FAILED]
    )
    rows = [Notification(alert=record, channel_id=n.channel_id, event=NotificationEvent.RESOLVE) for n in told]
    return [n.pk for n in Notification.objects.bulk_create(rows)]


def channels_for(record: AlertRecord) -> list[AlertChannel]:
    """The active channels this alert goes to: organisation-wide ones and the alert's team's,
    each filtered by its alert kinds and minimum severity."""
    scope = Q(team__isnull=True) | (Q(team_id=record.team_id) if record.team_id else Q(pk__in=[]))
    candidates = AlertChannel.objects.filter(scope, is_active=True).order_by("pk")
    return [c for c in candidates if c.takes(kind=record.kind, severity=record.severity)]


def recipients_wanting(*, kind: str, emails: tuple[str, ...] | list[str]) -> list[str]:
    """The addresses of ``emails`` whose people did not turn alerts of ``kind`` off for e-mail."""
    wanted = sorted({e.strip() for e in emails if e and e.strip()})
    if not wanted:
        return []
    muted = set(
        AlertPreference.objects.filter(kind=kind, email=False, user__email__in=wanted).values_list(
            "user__email", flat=True
        )
    )
    return [e for e in wanted if e not in muted]


# Alert kinds Quorum raises (a channel or a person filters on them); other apps may add their own.
ALERT_KINDS = {
    "approval_request": "Approval requests",
    "approval_outcome": "Outcomes of my requests",
    "budget": "Budget alerts",
    "review": "Reviews due",
    "drift": "Drift alerts",
    "slo_burn": "SLO burn-rate alerts",
    "monitor": "Monitors",
    "rollout": "Rollouts",
}


def alert_preferences_set(*, user, email_by_kind: dict[str, bool]) -> None:
    """Rule: a person chooses, per alert kind, whether it reaches them by e-mail (no row: it does).
    Only known kinds; the team channels are not affected (they are the team's choice)."""
    unknown = set(email_by_kind) - set(ALERT_KINDS)
    if unknown:
        raise ValidationError(f"Unknown alert kinds: {', '.join(sorted(unknown))}.")
    with transaction.atomic(), acting_as(user):
        for kind, wanted in email_by_kind.items():
            AlertPreference.objects.update_or_create(user=user, kind=kind, defaults={"email": wanted})


def alert_channel_create(*, actor, **fields) -> AlertChannel:
    """Rule: a channel's URL passes the outbound guard (no internal address); a signed webhook gets a
    fresh Standard Webhooks secret when none is given; a PagerDuty routing key is the integration's
    32-character key; an e-mail channel lists valid addresses. Bad input raises ValidationError keyed
    by field and saves nothing."""
    channel = AlertChannel(**fields)
    if channel.kind == "webhook" and not channel.secret:
        channel.secret = webhook_secret_new()
    if channel.kind == "pagerduty" and not channel.url:
        channel.url = PAGERDUTY_EVENTS_URL
    errors: dict[str, str] = {}
    if channel.kind == "pagerduty" and len(channel.secret.strip()) != 32:
        errors["secret"] = "A PagerDuty routing (integration) key has 32 characters."
    if channel.kind == "email":
        bad = [e for e in channel.email_list() if not _valid_email(e)]
        if bad or not channel.email_list():
            errors["emails"] = "List valid e-mail addresses, separated by commas."
    elif not channel.url:
        errors["url"] = "This channel needs the URL to post to."
    if errors:
        raise ValidationError(errors)
    channel.full_clean()  # the outbound guard on the URL, the field limits
    with transaction.atomic(), acting_as(actor):
        channel.save()
    return channel


def _valid_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def open_dedup_keys(prefix: str) -> set[str]:
    """The keys of the alerts open now whose key starts with ``prefix`` (one query): an evaluator
    that checks many conditions asks once, then calls :func:`notify` only where something changes."""
    return set(
        AlertRecord.objects.filter(resolved_at__isnull=True, dedup_key__startswith=prefix).values_list(
            "dedup_key", flat=True
        )
    )


def alerts_seen(keys: set[str] | list[str]) -> int:
    """Rule: an open alert whose condition is still firing is not notified again, but its record's
    ``last_seen_at`` says it is still live. One UPDATE for all ``keys`` (an evaluator collects the
    keys of a whole pass); resolved records are not touched. Returns how many were refreshed."""
    if not keys:
        return 0
    return AlertRecord.objects.filter(dedup_key__in=list(keys), resolved_at__isnull=True).update(
        last_seen_at=timezone.now()
    )
