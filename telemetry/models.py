"""What agents report: one row per run summary."""

from django.db import models
from django.db.models import Q

from .choices import RunOutcome, RunReason, RunStatus


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
