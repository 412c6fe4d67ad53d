"""Sending one notification to its channel, in the format of the service at the other end.

Formats (what the real services check, and what ``tests/registry/test_channels.py`` checks the same
way with a receiver on loopback):

* **Slack incoming webhook**: ``POST`` JSON with ``text`` (the fallback and notification text) and
  ``blocks`` (a section in mrkdwn); Slack answers ``200 ok``.
* **Microsoft Teams webhook** (Workflows / incoming webhook): ``POST`` JSON ``{"type": "message",
  "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": <Adaptive
  Card 1.4>}]}``.
* **PagerDuty Events API v2**: ``POST`` to ``/v2/enqueue`` JSON with ``routing_key`` (the
  integration key), ``event_action`` ``trigger`` or ``resolve`` and the alert's ``dedup_key`` (so
  PagerDuty's incident is the alert: a resolve closes it); a trigger carries ``payload`` with
  ``summary``, ``source`` and ``severity`` (``critical|error|warning|info``). PagerDuty answers 202.
* **Signed webhook**: the Standard Webhooks format (``registry.webhook_signing``): ``webhook-id``
  (the notification id, the same on every retry), ``webhook-timestamp``, ``webhook-signature``, and
  a body ``{"type": "alert.triggered" | "alert.resolved", "timestamp", "data": {...}}``.
* **E-mail**: one message per address (people do not see each other's addresses).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.mail import send_mass_mail
from django.db.models import F
from django.utils import timezone

from .channel_models import PAGERDUTY_EVENTS_URL, AlertRecord, Notification
from .choices import AlertChannelKind, NotificationEvent, NotificationStatus
from .outbound import OutboundError, guarded_client
from .webhook_signing import webhook_standard_headers

MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 10.0
PAGERDUTY_SEVERITY = {"info": "info", "warning": "warning", "critical": "critical"}


class ChannelRetryable(Exception):
    """The channel answered with something worth retrying (5xx, 408, 429)."""


@dataclass(frozen=True)
class Outgoing:
    url: str
    body: bytes
    headers: dict


def _link(record: AlertRecord) -> str:
    if not record.url:
        return ""
    return record.url if record.url.startswith("http") else settings.QUORUM_BASE_URL.rstrip("/") + record.url


def _headline(record: AlertRecord, event: str) -> str:
    if event == NotificationEvent.RESOLVE:
        return f"[Resolved] {record.title}"
    # Information (an approval to give, a review due) needs no label; warnings and pages do.
    return record.title if record.severity == "info" else f"[{record.get_severity_display()}] {record.title}"


def _json(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def slack_request(n: Notification) -> Outgoing:
    record, link = n.alert, _link(n.alert)
    text = _headline(record, n.event)
    detail = record.body + (f"\n<{link}|Open in Quorum>" if link else "")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*\n{detail}".strip()}}]
    return Outgoing(n.channel.url, _json({"text": text, "blocks": blocks}), {"Content-Type": "application/json"})


def teams_request(n: Notification) -> Outgoing:
    record, link = n.alert, _link(n.alert)
    body = [
        {"type": "TextBlock", "text": _headline(record, n.event), "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "TextBlock", "text": record.body or record.title, "wrap": True},
    ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "Open in Quorum", "url": link}] if link else [],
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
    payload = {"type": "message", "attachments": [attachment]}
    return Outgoing(n.channel.url, _json(payload), {"Content-Type": "application/json"})


def pagerduty_request(n: Notification) -> Outgoing:
    record = n.alert
    event = {
        "routing_key": n.channel.secret,
        "event_action": "resolve" if n.event == NotificationEvent.RESOLVE else "trigger",
        "dedup_key": record.dedup_key[:255],
    }
    if n.event == NotificationEvent.TRIGGER:
        event["payload"] = {
            "summary": record.title[:1024],
            "source": record.agent.slug if record.agent_id and record.agent else "quorum",
            "severity": PAGERDUTY_SEVERITY.get(record.severity, "warning"),
            "timestamp": record.opened_at.isoformat(),
            "component": record.agent.name if record.agent_id and record.agent else "",
            "class": record.kind,
            "custom_details": {"body": record.body, **record.details},
        }
        event["client"] = "Quorum"
        if link := _link(record):
            event["client_url"] = link
            event["links"] = [{"href": link, "text": "Open in Quorum"}]
    return Outgoing(n.channel.url or PAGERDUTY_EVENTS_URL, _json(event), {"Content-Type": "application/json"})


def webhook_request(n: Notification) -> Outgoing:
    record = n.alert
    now = timezone.now()
    payload = {
        "type": "alert.resolved" if n.event == NotificationEvent.RESOLVE else "alert.triggered",
        "timestamp": now.isoformat(),
        "data": {
            "alert_id": record.pk,
            "dedup_key": record.dedup_key,
            "kind": record.kind,
            "severity": record.severity,
            "title": record.title,
            "body": record.body,
            "url": _link(record),
            "agent": record.agent.slug if record.agent_id and record.agent else None,
            "opened_at": record.opened_at.isoformat(),
            "resolved_at": record.resolved_at.isoformat() if record.resolved_at else None,
            "details": record.details,
        },
    }
    body = _json(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Quorum-Webhook/1",
        **webhook_standard_headers(n.channel.secret, f"notification-{n.pk}", body, sent_at=now),
    }
    return Outgoing(n.channel.url, body, headers)


BUILDERS = {
    AlertChannelKind.SLACK: slack_request,
    AlertChannelKind.TEAMS: teams_request,
    AlertChannelKind.PAGERDUTY: pagerduty_request,
    AlertChannelKind.WEBHOOK: webhook_request,
}


def _send_email(n: Notification) -> None:
    record, link = n.alert, _link(n.alert)
    addresses = n.channel.email_list() if n.channel_id else list(record.recipients)
    subject = f"[Quorum] {_headline(record, n.event)}"
    body = (record.body or record.title) + (f"\n\n{link}\n" if link else "\n")
    send_mass_mail([(subject, body, settings.DEFAULT_FROM_EMAIL, [to]) for to in addresses])


def _post(out: Outgoing) -> httpx.Response:
    with guarded_client(timeout=TIMEOUT_SECONDS) as client:
        return client.post(out.url, content=out.body, headers=out.headers)


def _finish(n: Notification, status: str, error: str = "") -> None:
    sent_at = timezone.now() if status == NotificationStatus.SENT else None
    Notification.objects.filter(pk=n.pk).update(status=status, last_error=error[:500], sent_at=sent_at)


def notification_deliver(*, notification_id: int) -> str:
    """Send one notification, once. The row is claimed by compare-and-set (pending → sending) so a
    redelivered task sends nothing; an error worth retrying puts it back to pending and raises
    (the task retries with backoff) until ``MAX_ATTEMPTS``, then it is marked failed. A refusal by
    the outbound guard or a 4xx answer is final: retrying cannot help."""
    claimed = Notification.objects.filter(pk=notification_id, status=NotificationStatus.PENDING).update(
        status=NotificationStatus.SENDING, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return "skipped"
    n = Notification.objects.select_related("alert", "alert__agent", "channel").get(pk=notification_id)
    try:
        if n.channel_id is None or n.channel.kind == AlertChannelKind.EMAIL:
            _send_email(n)
            _finish(n, NotificationStatus.SENT)
            return "sent"
        response = _post(BUILDERS[n.channel.kind](n))
    except OutboundError as exc:
        _finish(n, NotificationStatus.REFUSED, f"refused: {exc}")
        return "refused"
    except (httpx.TransportError, OSError) as exc:
        return _retry_or_fail(n, f"{type(exc).__name__}: {exc}", exc)
    if 200 <= response.status_code < 300:
        _finish(n, NotificationStatus.SENT)
        return "sent"
    message = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code >= 500 or response.status_code in (408, 429):
        return _retry_or_fail(n, message, ChannelRetryable(message))
    _finish(n, NotificationStatus.REFUSED, message)
    return "refused"


def _retry_or_fail(n: Notification, message: str, exc: Exception) -> str:
    if n.attempts >= MAX_ATTEMPTS:
        _finish(n, NotificationStatus.FAILED, message)
        return "failed"
    _finish(n, NotificationStatus.PENDING, message)
    raise exc
