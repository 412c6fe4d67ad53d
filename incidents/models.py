"""Incidents, their human timeline, postmortems and postmortem action items."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from auditlog.registry import auditlog
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .choices import (
    ACTIVE_STATUSES,
    MAJOR_SEVERITIES,
    PENDING_ITEM_STATES,
    ActionItemState,
    DetectionSource,
    FailureMode,
    IncidentStatus,
    PostmortemStatus,
    Severity,
    TimelineKind,
)

POSTMORTEM_DUE_AFTER = timedelta(hours=72)


class Incident(models.Model):
    """Something went wrong with an agent (or, for the fleet kill switch, with all of them).

    Status moves only along ``choices.ALLOWED_TRANSITIONS`` through
    ``services.incident_transition``; each move stamps its time, so time to mitigate and
    time to resolve follow from the record. At most one incident per agent is active
    (open or mitigated): new reports about the same agent are linked to it."""

    agent = models.ForeignKey(
        "registry.Agent", on_delete=models.PROTECT, related_name="incidents", null=True, blank=True
    )
    fleet_wide = models.BooleanField(default=False, help_text="Opened by the fleet kill switch; no single agent.")
    version = models.ForeignKey(
        "registry.AgentVersion", on_delete=models.SET_NULL, related_name="incidents", null=True, blank=True
    )
    severity = models.CharField(max_length=4, choices=Severity.choices)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True, max_length=8000)
    status = models.CharField(max_length=10, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    failure_mode = models.CharField(max_length=20, choices=FailureMode.choices, default=FailureMode.UNCLASSIFIED)
    detection_source = models.CharField(max_length=12, choices=DetectionSource.choices)
    detected_at = models.DateTimeField(default=timezone.now)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    customer_impact = models.TextField(blank=True, max_length=4000)
    financial_impact_usd = models.DecimalField(
        "financial impact (USD)",
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Counts against the agent's ROI. Empty = not yet known.",
    )
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="commanded_incidents",
        verbose_name="incident commander",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review = models.ForeignKey(
        "registry.Review",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The ad-hoc review this incident scheduled.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-detected_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(fleet_wide=True) & Q(agent__isnull=True)) | (Q(fleet_wide=False) & Q(agent__isnull=False)),
                name="incidents_incident_agent_or_fleet",
            ),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="incidents_incident_severity_valid"),
            models.CheckConstraint(
                condition=Q(status__in=IncidentStatus.values), name="incidents_incident_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(failure_mode__in=FailureMode.values), name="incidents_incident_failure_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(detection_source__in=DetectionSource.values), name="incidents_incident_detection_valid"
            ),
            # Each status carries the stamps of the steps it needs; the transition service sets them.
            models.CheckConstraint(
                condition=~Q(status__in=[IncidentStatus.RESOLVED, IncidentStatus.CLOSED])
                | Q(resolved_at__isnull=False),
                name="incidents_incident_resolved_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status=IncidentStatus.CLOSED) | Q(closed_at__isnull=False),
                name="incidents_incident_closed_has_time",
            ),
            models.CheckConstraint(
                condition=Q(financial_impact_usd__isnull=True) | Q(financial_impact_usd__gte=0),
                name="incidents_incident_financial_impact_non_negative",
            ),
            # Concurrent reports (a drift check and an operator at once) must land on one incident.
            models.UniqueConstraint(
                fields=["agent"],
                condition=Q(status__in=ACTIVE_STATUSES) & Q(agent__isnull=False),
                name="incidents_incident_one_active_per_agent",
            ),
            models.UniqueConstraint(
                fields=["fleet_wide"],
                condition=Q(status__in=ACTIVE_STATUSES) & Q(fleet_wide=True),
                name="incidents_incident_one_active_fleet_wide",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "severity"]),
            models.Index(fields=["agent", "detected_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:incident_detail", kwargs={"pk": self.pk})

    @property
    def subject(self) -> str:
        return "the whole fleet" if self.fleet_wide else str(self.agent)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def needs_postmortem(self) -> bool:
        return self.severity in MAJOR_SEVERITIES

    @property
    def time_to_mitigate(self) -> timedelta | None:
        # Resolved without a separate mitigation step: the fix was the mitigation.
        end = self.mitigated_at or self.resolved_at
        return end - self.detected_at if end else None

    @property
    def time_to_resolve(self) -> timedelta | None:
        return self.resolved_at - self.detected_at if self.resolved_at else None

    @property
    def postmortem_due_at(self):
        return self.resolved_at + POSTMORTEM_DUE_AFTER if self.resolved_at and self.needs_postmortem else None


class TimelineEntry(models.Model):
    """One line of an incident's human timeline. Append-only: entries are never edited."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=TimelineKind.choices)
    from_status = models.CharField(max_length=10, choices=IncidentStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=IncidentStatus.choices, blank=True)
    note = models.TextField(max_length=4000)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "timeline entries"
        constraints = [
            models.CheckConstraint(condition=~Q(note=""), name="incidents_timelineentry_note_required"),
        ]

    def __str__(self) -> str:
        return f"{self.incident.reference} {self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}"


class IncidentRun(models.Model):
    """A run linked to an incident, by the agent's own run id. The run itself lives in
    telemetry; the id is kept even if the run was never (or not yet) reported."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="linked_runs")
    run_id = models.CharField(max_length=128)
    linked_at = models.DateTimeField(auto_now_add=True)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["linked_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "run_id"], name="incidents_incidentrun_unique_run_per_incident")
        ]

    def __str__(self) -> str:
        return f"{self.incident.reference} run {self.run_id}"


class Postmortem(models.Model):
    """What happened, why, and what we will change. Required for SEV1 and SEV2, due 72 hours
    after the incident is resolved; the incident cannot close until it is published."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    status = models.CharField(max_length=10, choices=PostmortemStatus.choices, default=PostmortemStatus.DRAFT)
    summary = models.TextField(blank=True, max_length=8000)
    impact = models.TextField(blank=True, max_length=8000)
    timeline = models.TextField(blank=True, max_length=20000)
    root_cause = models.TextField(blank=True, max_length=8000)
    contributing_factors = models.TextField(blank=True, max_length=8000)
    went_well = models.TextField("what went well", blank=True, max_length=8000)
    went_badly = models.TextField("what went badly", blank=True, max_length=8000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    SECTIONS = ("summary", "impact", "timeline", "root_cause", "contributing_factors", "went_well", "went_badly")
    # A postmortem is not publishable without these; the others may honestly be short.
    REQUIRED_TO_PUBLISH = ("summary", "impact", "root_cause")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status=PostmortemStatus.DRAFT) | Q(published_at__isnull=False),
                name="incidents_postmortem_published_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PostmortemStatus.values), name="incidents_postmortem_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Postmortem of {self.incident.reference}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:postmortem_edit", kwargs={"pk": self.incident_id})

    @property
    def is_published(self) -> bool:
        return self.status == PostmortemStatus.PUBLISHED


class ActionItem(models.Model):
    """A change a postmortem commits to: an owner, a due date and a state.

    While one is overdue the agent may not have a go-live or new-version request applied."""

    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="incident_action_items"
    )
    due_on = models.DateField()
    state = models.CharField(max_length=12, choices=ActionItemState.choices, default=ActionItemState.OPEN)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ActionItemState.values), name="incidents_actionitem_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state__in=PENDING_ITEM_STATES) | Q(completed_at__isnull=False),
                name="incidents_actionitem_finished_has_time",
            ),
        ]
        indexes = [models.Index(fields=["state", "due_on"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("incidents:incident_detail", kwargs={"pk": self.postmortem.incident_id}) + f"#item-{self.pk}"

    @property
    def state_choices(self):
        return ActionItemState.choices

    @property
    def is_pending(self) -> bool:
        return self.state in PENDING_ITEM_STATES

    @property
    def is_overdue(self) -> bool:
        return self.is_pending and self.due_on < timezone.localdate()


class OverdueReminder(models.Model):
    """Proof that a person got their overdue-work e-mail on a given day: the unique
    (recipient, day) pair is what keeps the beat task to one e-mail per person per day,
    however often it runs and on however many workers."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)
    postmortems = models.PositiveIntegerField(default=0)
    action_items = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recipient", "day"], name="incidents_overduereminder_one_per_day")
        ]

    def __str__(self) -> str:
        return f"Reminder to {self.recipient} on {self.day}"


auditlog.register(Incident, exclude_fields=["updated_at"])
auditlog.register(IncidentRun)
auditlog.register(Postmortem, exclude_fields=["updated_at"])
auditlog.register(ActionItem, exclude_fields=["updated_at"])
