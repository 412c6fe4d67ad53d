"""The runtime action gate: per-tool policies (immutable versions), the action requests agents
make at runtime, and each agent's webhook for hearing the outcome of a pending one."""

from __future__ import annotations

import uuid

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from registry.outbound import validate_outbound_url
from registry.webhook_signing import WEBHOOK_SECRET_PREFIX, webhook_secret_standard_form  # noqa: F401 (re-exported)

from .choices import ActionStatus, DecisionSource


class ActionPolicyVersionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValidationError("Policy versions are immutable; save a new version instead.")


class ActionPolicyVersion(models.Model):
    """One version of a tool's action policy: the declared fields, the ordered rules, the fields
    to redact before storage and how long requests keep their parameters.

    Immutable once saved: editing a policy creates the next version (``number`` + 1), so every
    decision can name the exact rules it was made under. The highest number is in force."""

    tool = models.ForeignKey("registry.Tool", on_delete=models.PROTECT, related_name="action_policy_versions")
    number = models.PositiveIntegerField()
    fields_source = models.TextField("fields", max_length=10_000, help_text="One per line: name: type [optional]")
    fields = models.JSONField(help_text="Parsed from the fields text.")
    rules_source = models.TextField("rules", max_length=60_000, blank=True, help_text="One rule per line, in order.")
    rules = models.JSONField(default=list, help_text="Parsed (and type-checked) from the rules text.")
    redact_fields = models.JSONField(default=list, blank=True)
    retention_days = models.PositiveIntegerField(default=365)
    note = models.CharField(max_length=500, blank=True, help_text="What changed and why.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ActionPolicyVersionQuerySet.as_manager()

    class Meta:
        ordering = ["tool__name", "-number"]
        verbose_name = "action policy version"
        constraints = [
            models.UniqueConstraint(fields=["tool", "number"], name="actions_policy_unique_tool_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="actions_policy_number_positive"),
            models.CheckConstraint(
                condition=Q(retention_days__gte=1, retention_days__lte=3650), name="actions_policy_retention_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tool.name} policy v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("actions:policy_detail", kwargs={"tool": self.tool.name}) + f"?version={self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValidationError("Policy versions are immutable; save a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Policy versions are never deleted: decisions name them.")


class AgentGateSettings(models.Model):
    """Per-agent settings of the action gate: where to POST the outcome of a pending request,
    and the secret its HMAC-SHA256 signature is made with."""

    agent = models.OneToOneField("registry.Agent", on_delete=models.CASCADE, related_name="gate_settings")
    webhook_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[validate_outbound_url],
        help_text="Called when a pending action is decided or expires.",
    )
    webhook_secret = models.CharField(max_length=128, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    @property
    def webhook_standard_secret(self) -> str:
        """The ``whsec_`` secret a Standard Webhooks receiver is given."""
        return webhook_secret_standard_form(self.webhook_secret) if self.webhook_secret else ""

    class Meta:
        verbose_name = "agent gate settings"
        verbose_name_plural = "agent gate settings"

    def __str__(self) -> str:
        return f"Gate settings of {self.agent}"


class ActionRequest(models.Model):
    """An agent asking, at runtime, to perform one action with a tool.

    Its parameters are stored *after* redaction (the policy's redact list); the decision records
    the policy version and rule that fired. A pending request is decided by people through its
    :class:`approvals.ApprovalRequest` (same engine as change requests)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey("registry.Agent", on_delete=models.PROTECT, related_name="action_requests")
    tool = models.ForeignKey("registry.Tool", on_delete=models.PROTECT, related_name="action_requests")
    idempotency_key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of tool + redacted parameters + link.")
    parameters = models.JSONField(default=dict, help_text="Redacted before storage.")
    status = models.CharField(max_length=10, choices=ActionStatus.choices)
    source = models.CharField("decided by", max_length=15, choices=DecisionSource.choices)
    policy_version = models.ForeignKey(
        ActionPolicyVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="action_requests"
    )
    rule_number = models.PositiveSmallIntegerField(null=True, blank=True)
    rule_text = models.CharField(max_length=500, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    required_approvals = models.PositiveSmallIntegerField(null=True, blank=True)
    approver_role = models.CharField(max_length=150, blank=True)
    approval_request = models.OneToOneField(
        "approvals.ApprovalRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="action_request"
    )
    change_request = models.ForeignKey(
        "approvals.ApprovalRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    webhook_delivered_at = models.DateTimeField(null=True, blank=True)
    webhook_attempts = models.PositiveSmallIntegerField(default=0)
    webhook_last_error = models.CharField(max_length=500, blank=True)
    parameters_purged_at = models.DateTimeField(null=True, blank=True)
    # The facts the gate decided on (kill switches, version and digest, grant check), frozen at the
    # decision; empty for requests decided before it was recorded (the why-page reconstructs those).
    decision_snapshot = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two concurrent posts with one key: the second insert fails here and reads the first.
            models.UniqueConstraint(fields=["agent", "idempotency_key"], name="actions_request_unique_agent_key"),
            models.CheckConstraint(condition=Q(status__in=ActionStatus.values), name="actions_request_status_valid"),
            models.CheckConstraint(condition=Q(source__in=DecisionSource.values), name="actions_request_source_valid"),
            models.CheckConstraint(
                # The approval request is attached in the same transaction, right after the insert.
                condition=~Q(status=ActionStatus.PENDING) | (Q(expires_at__isnull=False) & Q(decided_at__isnull=True)),
                name="actions_request_pending_has_expiry",
            ),
            models.CheckConstraint(
                condition=Q(status=ActionStatus.PENDING) | Q(decided_at__isnull=False),
                name="actions_request_decided_has_time",
            ),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="actions_request_key_not_blank"),
        ]
        indexes = [
            models.Index(fields=["agent", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["tool", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.tool.name} by {self.agent.slug} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("actions:request_detail", kwargs={"pk": self.pk})


auditlog.register(ActionPolicyVersion)
auditlog.register(AgentGateSettings, exclude_fields=["webhook_secret", "updated_at"])


class PolicyShadow(models.Model):
    """Draft rules running *in shadow* beside a tool's policy in force (issue 18): every request
    the active version decides is also evaluated by these rules, and what they would have decided
    is recorded (:class:`ShadowDecision`), never applied.

    The rules are read over the fields of ``base_version`` (the version in force when the shadow
    was set), so the shadow sees exactly the values the active version decided on. Set, replaced
    and stopped only by an applied two-person request (``action_policy_shadow``); promoted to the
    version in force by an ``action_policy_change`` request with its rules. At most one shadow per
    tool runs at a time; an ended one stays, with its decisions, for the record."""

    tool = models.ForeignKey("registry.Tool", on_delete=models.PROTECT, related_name="policy_shadows")
    base_version = models.ForeignKey(ActionPolicyVersion, on_delete=models.PROTECT, related_name="shadows")
    rules_source = models.TextField("rules", max_length=60_000)
    rules = models.JSONField(default=list, help_text="Parsed (and type-checked) over the base version's fields.")
    note = models.CharField(max_length=500, blank=True)
    change_request = models.ForeignKey(
        "approvals.ApprovalRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tool"], condition=Q(ended_at__isnull=True), name="actions_shadow_one_running_per_tool"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | ~Q(end_reason=""), name="actions_shadow_ended_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tool.name} shadow #{self.pk}"


class ShadowDecision(models.Model):
    """What a shadow's rules would have decided for one action request (never applied), beside
    whether that agrees with the real decision at the gate."""

    action = models.ForeignKey(ActionRequest, on_delete=models.CASCADE, related_name="shadow_decisions")
    shadow = models.ForeignKey(PolicyShadow, on_delete=models.PROTECT, related_name="decisions")
    # What the shadow would have decided.
    status = models.CharField(max_length=10, choices=ActionStatus.choices)
    source = models.CharField(max_length=15, choices=DecisionSource.choices)
    rule_number = models.PositiveSmallIntegerField(null=True, blank=True)
    required_approvals = models.PositiveSmallIntegerField(null=True, blank=True)
    approver_role = models.CharField(max_length=150, blank=True)
    # What the gate decided, frozen here (the request's own status moves on when people decide).
    active_status = models.CharField(max_length=10, choices=ActionStatus.choices)
    active_rule_number = models.PositiveSmallIntegerField(null=True, blank=True)
    agreed = models.BooleanField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["action", "shadow"], name="actions_shadow_decision_once"),
            models.CheckConstraint(condition=Q(status__in=ActionStatus.values), name="actions_shadow_status_valid"),
        ]
        indexes = [models.Index(fields=["shadow", "created_at"])]

    def __str__(self) -> str:
        return f"shadow #{self.shadow_id} on {self.action_id}: {self.status}"


auditlog.register(ActionRequest, exclude_fields=["webhook_attempts", "webhook_last_error"])
auditlog.register(PolicyShadow)
