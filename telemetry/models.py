"""What agents report (one row per run summary), what governance found wrong in it (compliance
violations), and the rollups derived from runs. Agents' keys are principals' credentials and
live in the registry (``registry.models.AgentAPIKey``)."""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import RunOutcome, RunReason, RunStatus, ViolationKind
from .latency import empty_histogram


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
            # A drift check looks for one agent's runs received since the rollup watermark.
            models.Index(fields=["agent", "received_at"], name="telemetry_run_agent_received"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.run_id}"


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


# --- rollups: runs summed per bucket, for pages and drift checks ------------------------------
# Derived data, recomputed from raw runs (never edited by hand), so not in the audit trail.
# The hourly and daily tables and the state row were created by the reports app and keep their
# table names (``reports_*``); telemetry owns them since runs and what is derived from runs are one
# concept (see migrations 0003 here and 0005 in reports).


class RollupBase(models.Model):
    """Counters for one (agent, version, bucket). ``version`` is null for runs that matched
    no registered version. ``latency_hist`` counts runs per fixed log-spaced latency bucket
    (``telemetry.latency.EDGES_MS``), so two rows merge by summing element-wise."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("registry.AgentVersion", on_delete=models.CASCADE, null=True, related_name="+")
    bucket_start = models.DateTimeField()
    runs = models.PositiveIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0, help_text="Runs whose outcome is resolved.")
    escalations = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    blocked = models.PositiveIntegerField(default=0, help_text="Runs whose outcome is blocked (by policy).")
    abandoned = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="Runs whose technical status is error or timeout.")
    human_touched = models.PositiveIntegerField(
        default=0, help_text="Runs escalated to a human or with human handling minutes."
    )
    policy_blocks = models.PositiveBigIntegerField(default=0)
    tool_calls = models.PositiveBigIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    human_minutes = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    latency_sum_ms = models.PositiveBigIntegerField(default=0)
    latency_hist = models.JSONField(default=empty_histogram)
    computed_at = models.DateTimeField(auto_now=True)

    COUNTERS = (
        "runs",
        "successes",
        "escalations",
        "failures",
        "blocked",
        "abandoned",
        "errors",
        "human_touched",
        "policy_blocks",
        "tool_calls",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "human_minutes",
        "latency_sum_ms",
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.agent_id}/{self.version_id or '-'} @ {self.bucket_start:%Y-%m-%d %H:%M}: {self.runs} runs"


class FiveMinuteRollup(RollupBase):
    """Five minutes (by ``started_at``, UTC, aligned on the hour) of one agent version, kept
    for ``telemetry.rollups.FIVE_MINUTE_RETENTION``: the grain of the drift checks' windows
    (10 and 30 minutes against a baseline of up to 30 days). Hourly rows of those hours are
    the sums of these rows."""

    errored_or_failed = models.PositiveIntegerField(
        default=0, help_text="Runs that errored or timed out, or whose outcome is failed: the drift error rate."
    )

    COUNTERS = (*RollupBase.COUNTERS, "errored_or_failed")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "version", "bucket_start"],
                condition=Q(version__isnull=False),
                name="telemetry_5min_unique_version_bucket",
            ),
            models.UniqueConstraint(
                fields=["agent", "bucket_start"],
                condition=Q(version__isnull=True),
                name="telemetry_5min_unique_unversioned_bucket",
            ),
            models.CheckConstraint(
                condition=Q(successes__lte=models.F("runs")), name="telemetry_5min_successes_le_runs"
            ),
            models.CheckConstraint(
                condition=Q(errored_or_failed__lte=models.F("runs")), name="telemetry_5min_errored_le_runs"
            ),
        ]
        indexes = [models.Index(fields=["agent", "bucket_start"]), models.Index(fields=["bucket_start"])]


class HourlyRollup(RollupBase):
    """One hour (by the run's ``started_at``, UTC) of one agent version."""

    class Meta:
        db_table = "reports_hourlyrollup"
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "version", "bucket_start"],
                condition=Q(version__isnull=False),
                name="reports_hourly_unique_version_bucket",
            ),
            models.UniqueConstraint(
                fields=["agent", "bucket_start"],
                condition=Q(version__isnull=True),
                name="reports_hourly_unique_unversioned_bucket",
            ),
            models.CheckConstraint(
                condition=Q(successes__lte=models.F("runs")), name="reports_hourly_successes_le_runs"
            ),
        ]
        indexes = [models.Index(fields=["agent", "bucket_start"]), models.Index(fields=["bucket_start"])]


class DailyRollup(RollupBase):
    """One UTC day of one agent version: the sum of that day's hourly rows."""

    class Meta:
        db_table = "reports_dailyrollup"
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "version", "bucket_start"],
                condition=Q(version__isnull=False),
                name="reports_daily_unique_version_bucket",
            ),
            models.UniqueConstraint(
                fields=["agent", "bucket_start"],
                condition=Q(version__isnull=True),
                name="reports_daily_unique_unversioned_bucket",
            ),
            models.CheckConstraint(
                condition=Q(successes__lte=models.F("runs")), name="reports_daily_successes_le_runs"
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "bucket_start"]),
            # The portfolio sums every agent's counters over a period: with the counters in the
            # index that is an index-only scan, never reading the wide latency histograms.
            models.Index(
                fields=["bucket_start"],
                include=["agent", *RollupBase.COUNTERS],
                name="reports_daily_period_cover",
            ),
        ]


class RollupState(models.Model):
    """The rollup's progress: every run received up to ``watermark`` is in the rollups.
    A single row (pk = 1), locked while a rollup pass runs so two workers never interleave."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    watermark = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_buckets = models.PositiveIntegerField(default=0, help_text="Hourly buckets recomputed by the last pass.")

    class Meta:
        db_table = "reports_rollupstate"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="reports_rollupstate_singleton")]

    def __str__(self) -> str:
        return f"Rollups up to {self.watermark:%Y-%m-%d %H:%M:%S}" if self.watermark else "Rollups not started"


