"""Where Quorum's alerts go: one call, :func:`notify`, for every app that needs to tell people.

Approval requests, budget alerts, overdue reviews, drift alerts, monitor and SLO alerts all call
:func:`notify` with an :class:`Alert`. Delivery to channels (e-mail, Slack, Microsoft Teams,
PagerDuty, signed webhooks), per-user and per-team preferences, retries and de-duplication live
behind it, so a caller never knows which channels exist.

Until the channel models land, :func:`notify` delivers by e-mail to ``recipients`` only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail

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
    """Deliver ``alert``; returns the number of deliveries made or queued."""
    if alert.resolved or not alert.recipients:
        return 0
    body = alert.body + (f"\n\n{alert.url}" if alert.url else "")
    return send_mail(alert.title, body, settings.DEFAULT_FROM_EMAIL, list(alert.recipients))
