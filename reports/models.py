"""What agents are worth, in tables the pages can read fast.

Rollups are derived data: recomputed from raw runs (``telemetry.Run``), never edited by
hand, so they are not in the audit trail. Budget alerts, investments and review dossiers
are governed records and are audited."""

from __future__ import annotations

from decimal import Decimal

from auditlog.registry import auditlog
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from .latency import empty_histogram


class RollupBase(models.Model):
    """Counters for one (agent, version, bucket). ``version`` is null for runs that matched
    no registered version. ``latency_hist`` counts runs per fixed log-spaced latency bucket
    (``reports.latency.EDGES_MS``), so two rows merge by summing element-wise."""

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


class HourlyRollup(RollupBase):
    """One hour (by the run's ``started_at``, UTC) of one agent version."""

    class Meta:
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
        constraints = [models.CheckConstraint(condition=Q(id=1), name="reports_rollupstate_singleton")]
        permissions = [
            ("view_reports", "Can read ROI, portfolio, review calendar and maturity reports"),
        ]

    def __str__(self) -> str:
        return f"Rollups up to {self.watermark:%Y-%m-%d %H:%M:%S}" if self.watermark else "Rollups not started"


class AgentInvestment(models.Model):
    """The one-time investment in an agent (build, integration, rollout), the basis of its
    payback period. Kept here so the registry's agent model stays as it is."""

    agent = models.OneToOneField("registry.Agent", on_delete=models.CASCADE, related_name="investment")
    build_cost_usd = models.DecimalField(
        "one-time build cost (USD)",
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(build_cost_usd__gte=0), name="reports_investment_non_negative")
        ]

    def __str__(self) -> str:
        return f"Investment in {self.agent}: {self.build_cost_usd} USD"


class BudgetAlert(models.Model):
    """An agent whose month-to-date spend, projected to the month's end, passes its monthly
    budget. At most one per agent and day (the constraint), however often the check runs."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.CASCADE, related_name="budget_alerts")
    day = models.DateField()
    month_to_date_usd = models.DecimalField(max_digits=18, decimal_places=6)
    projected_usd = models.DecimalField(max_digits=18, decimal_places=2)
    budget_usd = models.DecimalField(max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-day", "agent__name"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "day"], name="reports_budgetalert_one_per_agent_day"),
            models.CheckConstraint(
                condition=Q(projected_usd__gt=models.F("budget_usd")), name="reports_budgetalert_projected_over"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent}: projected {self.projected_usd} USD > budget {self.budget_usd} USD on {self.day}"


class ReviewDossier(models.Model):
    """What a review is about, pre-filled for its period when it opens: metrics against
    thresholds, cost against budget, incidents, eval trend, compliance violations.

    ``notified_at`` is claimed by compare-and-set before the e-mails go out, so a beat task
    that runs twice (or a redelivered e-mail task) never mails the owner and board twice."""

    review = models.OneToOneField("registry.Review", on_delete=models.CASCADE, related_name="dossier")
    snapshot = models.JSONField(default=dict)
    prepared_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Dossier for {self.review}"


auditlog.register(AgentInvestment)
auditlog.register(BudgetAlert)
auditlog.register(ReviewDossier, exclude_fields=["snapshot"])
