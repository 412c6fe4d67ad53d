"""What agents report (one row per run summary), who may report it (agent keys), and what
governance found wrong in it (compliance violations)."""

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from .choices import RunOutcome, RunReason, RunStatus, ViolationKind


class Run(models.Model):
    """One run of an agent, as the agent reported it (after redaction).

    ``run_id`` is chosen by the agent and unique per agent: it is the idempotency key,
    so a replayed report stores nothing new. Runs are kept even when they break a
    governance rule (the violation is recorded separately)."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.PROTECT, related_name="runs")
    version = models.ForeignKey(
        "registry.AgentVersion",
        on_delete=models.PROTECT,
        related_name="runs",
        null=True,
        blank=True,
        help_text="The registered version the run was matched to, if any.",
    )
    run_id = models.CharField(max_length=128)
    version_label = models.CharField(max_length=40, blank=True)
    bundle_digest = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=120, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.OK)
    outcome = models.CharField(max_length=12, choices=RunOutcome.choices)
    reason = models.CharField(max_length=20, choices=RunReason.choices, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    tools_used = models.JSONField(default=list, blank=True)
    policy_blocks = models.PositiveIntegerField(default=0)
    human_minutes = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    trace_id = models.CharField(max_length=128, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "run_id"], name="telemetry_run_unique_run_id_per_agent"),
            models.CheckConstraint(
                condition=Q(ended_at__gte=models.F("started_at")),
                name="telemetry_run_ended_after_start",
            ),
            models.CheckConstraint(condition=Q(cost_usd__gte=0), name="telemetry_run_cost_non_negative"),
            models.CheckConstraint(condition=Q(outcome__in=RunOutcome.values), name="telemetry_run_outcome_valid"),
            models.CheckConstraint(
                condition=Q(reason="") | Q(reason__in=RunReason.values), name="telemetry_run_reason_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "started_at"]),
            models.Index(fields=["version", "started_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.run_id}"


class AgentAPIKey(AbstractAPIKey):
    """An agent's own credential (``Authorization: Bearer <prefix.secret>``).

    Stored hashed (the secret is shown once, at issue); the prefix stays visible so
    people can tell keys apart. A key acts only as its own agent: every telemetry and
    controls request is answered for ``agent`` and nothing else."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rotated_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "agent API key"
        verbose_name_plural = "agent API keys"
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked=False) | Q(revoked_at__isnull=False), name="telemetry_agentapikey_revoked_has_time"
            ),
        ]

    @property
    def is_usable(self) -> bool:
        return not self.revoked and not self.has_expired

    @property
    def state(self) -> str:
        if self.revoked:
            return "revoked"
        if self.has_expired:
            return "expired"
        return "active"


class ComplianceViolation(models.Model):
    """A governance rule a reported run broke: an unapproved version (by label or by an
    unknown bundle digest), a model other than the version's pinned one, or a tool the
    version was not granted.

    One row per agent, version key, kind and hour (a DB constraint): a misbehaving agent
    reporting thousands of runs makes one violation with a run count, not thousands."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.CASCADE, related_name="compliance_violations")
    version = models.ForeignKey(
        "registry.AgentVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="violations"
    )
    # The label (or bundle digest when the label is unknown) the runs reported; the dedup key.
    version_key = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=ViolationKind.choices)
    hour = models.DateTimeField(help_text="Start of the UTC hour of the runs (started_at) this row counts.")
    detail = models.CharField(max_length=500)
    first_run_id = models.CharField(max_length=128)
    run_count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-hour", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "version_key", "kind", "hour"],
                name="telemetry_violation_one_per_agent_version_kind_hour",
            ),
            models.CheckConstraint(condition=Q(kind__in=ViolationKind.values), name="telemetry_violation_kind_valid"),
            models.CheckConstraint(condition=Q(run_count__gte=1), name="telemetry_violation_run_count_positive"),
        ]
        indexes = [models.Index(fields=["agent", "-hour"]), models.Index(fields=["-last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.agent_id} ({self.version_key}) at {self.hour:%Y-%m-%d %H:00}"


auditlog.register(AgentAPIKey, exclude_fields=["hashed_key", "id", "last_used_at"])
