"""What agents report (one row per run summary), what governance found wrong in it (compliance
violations), and the rollups derived from runs. Agents' keys are principals' credentials and
live in the registry (``registry.models.AgentAPIKey``)."""

from decimal import Decimal

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from .choices import DiscoveryKind, DiscoveryState, RunOutcome, RunReason, RunStatus, ViolationKind
from .latency import empty_histogram


class Run(models.Model):
    """One run of an agent, as the agent reported it (after redaction).

    ``run_id`` is chosen by the agent: with ``started_at`` it is the idempotency key, so a
    replayed report stores nothing new. The table is partitioned by month of ``started_at``
    (``telemetry/run_partitions.py`` says why the key includes it); its primary key in the
    database is ``(id, started_at)``, ``id`` alone stays unique (one identity sequence). Runs
    are kept even when they break a governance rule (the violation is recorded separately)."""

    # No single-column FK indexes: (agent, started_at) and (version, started_at) serve those
    # lookups (index review for the partitioned table, telemetry/run_partitions.py).
    agent = models.ForeignKey("registry.Agent", on_delete=models.PROTECT, related_name="runs", db_index=False)
    version = models.ForeignKey(
        "registry.AgentVersion",
        on_delete=models.PROTECT,
        related_name="runs",
        null=True,
        blank=True,
        db_index=False,
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
    shadow = models.BooleanField(
        default=False,
        # Also a database default: rows written by raw SQL (partition copies, bulk loads) stay production.
        db_default=False,
        help_text="A shadow run: the version ran on real traffic but its answer was not used. "
        "Kept out of production rollups, reports and drift; compared with production in rollouts.",
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "run_id", "started_at"], name="telemetry_run_unique_run_per_agent_start"
            ),
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

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("telemetry:run_detail", kwargs={"slug": self.agent.slug, "run_id": self.run_id})


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

    provider_throttled = models.PositiveIntegerField(
        default=0,
        help_text="Runs a model provider answered 429 (rate limited) at least once: metadata provider_429s > 0.",
    )

    COUNTERS = (*RollupBase.COUNTERS, "errored_or_failed", "provider_throttled")

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


class SpendBackfill(models.Model):
    """The back-fill of the budget's spend counters (``registry.SpendCounter``) from runs stored
    before the counters existed: runs received before ``counted_before`` (when the counters'
    migration was applied) were added to their month and day counters once, by migration
    ``telemetry.0015_spend_backfill``. The row is the proof it was done: the back-fill's insert of it
    is its guard (unique), so running the back-fill again adds nothing."""

    counted_before = models.DateTimeField(unique=True)
    runs = models.PositiveIntegerField(help_text="Runs with a cost added to the counters.")
    cost_usd = models.DecimalField(max_digits=16, decimal_places=6)
    done_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Spend back-filled from {self.runs} runs received before {self.counted_before:%Y-%m-%d %H:%M}"


# --- OpenTelemetry spans and discovery ----------------------------------------------------------


class Span(models.Model):
    """One OpenTelemetry span an agent sent (OTLP), redacted, kept for replay of its trace.

    The table is partitioned by day on ``start_time`` (``migrations/0008_span_partitioned``;
    ``telemetry.partitions``), which Django cannot declare, so the model is unmanaged and only
    read through the ORM; ``telemetry.otlp`` writes it with COPY. The primary key in the database
    is (``start_time``, ``id``) — a partitioned table's key must hold the partition column.
    Spans meet runs by ``trace_id`` (``Run.trace_id``)."""

    id = models.BigIntegerField(primary_key=True)
    agent = models.ForeignKey("registry.Agent", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=200)
    operation = models.CharField(max_length=40, blank=True, help_text="gen_ai.operation.name (mapped).")
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    duration_us = models.BigIntegerField(default=0)
    status_code = models.SmallIntegerField(default=0, help_text="OTLP: 0 unset, 1 ok, 2 error.")
    status_message = models.CharField(max_length=500, blank=True)
    service_name = models.CharField(max_length=200, blank=True)
    attributes = models.JSONField(default=dict)
    events = models.JSONField(default=list)
    received_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "telemetry_span"

    def __str__(self) -> str:
        return f"{self.trace_id}/{self.span_id} {self.name}"


class DiscoveryKey(AbstractAPIKey):
    """An organisation-level OTLP key (``Authorization: Bearer <prefix.secret>``), issued by the
    governance board to a collector that forwards everyone's spans. Spans under it name their
    agent (``gen_ai.agent.name`` or the resource's ``service.name``): a registered agent's spans
    are ingested as that agent's, an unknown name lands in the discovery queue. It never reads
    controls or requests actions: it is not an agent."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "discovery key"
        verbose_name_plural = "discovery keys"
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked=False) | Q(revoked_at__isnull=False), name="telemetry_discoverykey_revoked_has_time"
            ),
        ]


class Discovery(models.Model):
    """An agent, tool or model seen in spans that the registry does not know, one row per
    (kind, name): when it was first and last seen and how many spans named it. The board
    promotes it (a proposed agent or a catalog tool, pre-filled from ``sample``) or blocks it:
    later spans from a blocked entry are refused and counted in ``rejected_spans``."""

    kind = models.CharField(max_length=10, choices=DiscoveryKind.choices)
    name = models.CharField(max_length=200)
    state = models.CharField(max_length=12, choices=DiscoveryState.choices, default=DiscoveryState.UNREVIEWED)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    span_count = models.PositiveBigIntegerField(default=0, help_text="Spans that named it before it was blocked.")
    rejected_spans = models.PositiveBigIntegerField(default=0, help_text="Spans refused since it was blocked.")
    sample = models.JSONField(default=dict, blank=True, help_text="What was seen (redacted), to pre-fill a promotion.")
    seen_by_agent = models.ForeignKey(
        "registry.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The agent whose key reported it (tools and models).",
    )  # fmt: skip
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    promoted_agent = models.ForeignKey(
        "registry.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    promoted_tool = models.ForeignKey(
        "registry.Tool", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen_at"]
        verbose_name_plural = "discoveries"
        permissions = [("review_discovery", "Can promote or block discovered agents, tools and models")]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="telemetry_discovery_one_per_kind_name"),
            models.CheckConstraint(condition=Q(kind__in=DiscoveryKind.values), name="telemetry_discovery_kind_valid"),
            models.CheckConstraint(
                condition=Q(state__in=DiscoveryState.values), name="telemetry_discovery_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state=DiscoveryState.UNREVIEWED) | Q(reviewed_at__isnull=False),
                name="telemetry_discovery_reviewed_has_time",
            ),
        ]
        indexes = [models.Index(fields=["state", "-last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"


auditlog.register(Discovery, exclude_fields=["last_seen_at", "span_count", "rejected_spans", "sample"])
auditlog.register(DiscoveryKey, exclude_fields=["hashed_key", "id", "last_used_at"])
