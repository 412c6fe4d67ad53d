"""Alert channels, preferences, alerts and their notifications (the models behind
``registry.channels.notify``). Imported by ``registry.models``; kept apart so the registry's
core models stay readable."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .choices import AlertChannelKind, AlertSeverity, NotificationEvent, NotificationStatus
from .outbound import validate_outbound_url

SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class AlertChannel(models.Model):
    """Where alerts go: an e-mail list, a Slack or Teams incoming webhook, a PagerDuty service
    (Events API v2 routing key) or a signed webhook. A channel with a team receives the alerts of
    that team's agents (the team's preference); without one, every alert. ``alert_kinds`` narrows it
    to some alert families (empty: all), ``min_severity`` to the serious ones."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=12, choices=AlertChannelKind.choices)
    team = models.ForeignKey(
        "registry.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="alert_channels"
    )
    url = models.URLField(
        max_length=500,
        blank=True,
        validators=[validate_outbound_url],
        help_text="The webhook URL (Slack, Teams, signed webhook) or the PagerDuty events endpoint.",
    )
    emails = models.CharField(max_length=1000, blank=True, help_text="E-mail channel: addresses, comma-separated.")
    secret = models.CharField(
        max_length=200,
        blank=True,
        help_text="Signed webhook: the whsec_ signing secret. PagerDuty: the integration's routing key.",
    )
    alert_kinds = models.JSONField(default=list, blank=True, help_text="Alert kinds sent here; empty: every kind.")
    min_severity = models.CharField(max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.INFO)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(kind="email") | ~Q(url=""), name="registry_channel_url_needed"),
            models.CheckConstraint(condition=~Q(kind="email") | ~Q(emails=""), name="registry_channel_emails_needed"),
            models.CheckConstraint(
                condition=~Q(kind__in=["pagerduty", "webhook"]) | ~Q(secret=""), name="registry_channel_secret_needed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def email_list(self) -> list[str]:
        return [e.strip() for e in self.emails.split(",") if e.strip()]

    def takes(self, *, kind: str, severity: str) -> bool:
        """Whether an alert of this kind and severity is for this channel (team checked by the caller)."""
        if self.alert_kinds and kind not in self.alert_kinds:
            return False
        return SEVERITY_RANK.get(severity, 1) >= SEVERITY_RANK.get(self.min_severity, 0)


class AlertPreference(models.Model):
    """One person's choice for one alert kind: whether it reaches them by e-mail. No row: it does."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_preferences")
    kind = models.CharField(max_length=40)
    email = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="registry_alertpref_unique_user_kind")]

    def __str__(self) -> str:
        return f"{self.user}: {self.kind} by e-mail {'on' if self.email else 'off'}"


class AlertRecord(models.Model):
    """One occurrence of an alert condition, from its first ``notify`` to its resolution. At most one
    is open per ``dedup_key`` (the constraint), which is what makes one alert send one notification
    per channel however often the condition is evaluated."""

    dedup_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.WARNING)
    url = models.CharField(max_length=500, blank=True)
    agent = models.ForeignKey("registry.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    team = models.ForeignKey("registry.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    recipients = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"], condition=Q(resolved_at__isnull=True), name="registry_alert_one_open_per_key"
            )
        ]
        indexes = [models.Index(fields=["dedup_key", "-opened_at"])]

    def __str__(self) -> str:
        return f"{self.title} ({'resolved' if self.resolved_at else 'open'})"


class Notification(models.Model):
    """One delivery of an alert's trigger or resolution to one channel (or, with no channel, by
    e-mail to the alert's own recipients). Unique per alert, channel and event."""

    alert = models.ForeignKey(AlertRecord, on_delete=models.CASCADE, related_name="notifications")
    channel = models.ForeignKey(
        AlertChannel, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    event = models.CharField(max_length=10, choices=NotificationEvent.choices)
    status = models.CharField(max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "event"],
                condition=Q(channel__isnull=False),
                name="registry_notification_once_per_channel",
            ),
            models.UniqueConstraint(
                fields=["alert", "event"], condition=Q(channel__isnull=True), name="registry_notification_once_direct"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.channel or 'recipients'}: {self.event} {self.status}"
