"""Is it still good: golden sets, eval targets and runs, judge calibration, drift policy and alerts."""

from __future__ import annotations

from decimal import Decimal

from auditlog.registry import auditlog
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from registry.outbound import validate_outbound_url

from .choices import AlertStatus, DriftAction, DriftMetric, RunSource, RunStatus, Scorer

CASE_KEY = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$", "Letters, digits and . _ : - only (max 100).")


class GoldenSet(models.Model):
    """A named collection of test cases for one agent. Its cases live in numbered versions."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.CASCADE, related_name="golden_sets")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=4000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agent__name", "name"]
        constraints = [models.UniqueConstraint(fields=["agent", "name"], name="evals_goldenset_unique_name_per_agent")]

    def __str__(self) -> str:
        return f"{self.agent.slug} / {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("evals:goldenset_detail", kwargs={"pk": self.pk})


class GoldenSetVersion(models.Model):
    """One numbered version of a golden set. Editable until an eval run first uses it;
    from then on it is frozen, so every result can be traced to exactly the cases scored."""

    golden_set = models.ForeignKey(GoldenSet, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    note = models.CharField(max_length=300, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["golden_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["golden_set", "number"], name="evals_goldensetversion_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="evals_goldensetversion_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.golden_set} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("evals:setversion_detail", kwargs={"pk": self.pk})

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class GoldenCase(models.Model):
    """One test case: the input sent to the agent, what is expected back and how it is scored.

    ``expected`` depends on the scorer: any JSON value (exact), a string or list of strings
    (contains), a pattern (regex), a schema object (json_schema), a number (numeric) or the
    rubric text (llm_judge). ``options`` holds scorer settings such as ``tolerance``."""

    set_version = models.ForeignKey(GoldenSetVersion, on_delete=models.CASCADE, related_name="cases")
    key = models.CharField(max_length=100, validators=[CASE_KEY])
    position = models.PositiveIntegerField(default=0)
    input = models.JSONField(help_text="JSON sent to the agent as the case input.")
    scorer = models.CharField(max_length=20, choices=Scorer.choices, default=Scorer.EXACT)
    expected = models.JSONField(help_text="What the scorer compares the output with (see the scorer).")
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["set_version", "position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["set_version", "key"], name="evals_goldencase_unique_key_per_version"),
            models.CheckConstraint(condition=Q(scorer__in=Scorer.values), name="evals_goldencase_scorer_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.set_version} #{self.key}"


class EvalTarget(models.Model):
    """The agent's HTTP endpoint the console calls with each case, and how politely."""

    agent = models.OneToOneField("registry.Agent", on_delete=models.CASCADE, related_name="eval_target")
    endpoint_url = models.URLField(max_length=500, validators=[validate_outbound_url])
    # Sent as a bearer token and used to sign each body (HMAC-SHA256); never shown back in the UI.
    secret = models.CharField(max_length=200, blank=True)
    timeout_seconds = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("30"),
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("600"))],
    )
    max_concurrency = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(32)]
    )
    max_retries = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(5)])
    backoff_seconds = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("60"))],
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_concurrency__gte=1, max_concurrency__lte=32), name="evals_evaltarget_concurrency_1_32"
            ),
            models.CheckConstraint(
                condition=Q(timeout_seconds__gt=0, timeout_seconds__lte=600), name="evals_evaltarget_timeout_range"
            ),
            models.CheckConstraint(condition=Q(max_retries__lte=5), name="evals_evaltarget_retries_max_5"),
        ]

    def __str__(self) -> str:
        return f"Eval target of {self.agent}"


class Judge(models.Model):
    """An LLM judge configuration (model + prompt version). Its calibration against human
    ratings decides whether its scores count towards gates."""

    name = models.CharField(max_length=160, unique=True)
    model = models.CharField(max_length=120)
    prompt_version = models.CharField(max_length=40, default="1")
    agreement_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    sample_size = models.PositiveIntegerField(default=0)
    trusted = models.BooleanField(default=True, help_text="False once agreement with humans falls below the bar.")
    calibrated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        permissions = [("rate_judge", "Can rate judged cases to calibrate a judge")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("evals:judge_detail", kwargs={"pk": self.pk})


class EvalRun(models.Model):
    """One evaluation of an agent version against one golden-set version.

    ``idempotency_key`` makes a repeated request (the same scheduled job, a CI retry)
    land on the same run. Results are written in the same transaction that completes the
    run, so a worker that dies mid-run leaves no partial results behind."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.CASCADE, related_name="eval_runs")
    version = models.ForeignKey("registry.AgentVersion", on_delete=models.CASCADE, related_name="eval_runs")
    set_version = models.ForeignKey(GoldenSetVersion, on_delete=models.PROTECT, related_name="runs")
    idempotency_key = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=10, choices=RunSource.choices, default=RunSource.CONSOLE)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    task_id = models.CharField(max_length=64, blank=True, help_text="The Celery task that holds the run.")
    total_cases = models.PositiveIntegerField(default=0)
    done_cases = models.PositiveIntegerField(default=0)
    passed_cases = models.PositiveIntegerField(default=0)
    pass_rate_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    threshold_pct = models.DecimalField(max_digits=5, decimal_places=2)
    passed = models.BooleanField(null=True, blank=True)
    total_cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    error = models.TextField(blank=True, max_length=4000)
    commit_sha = models.CharField(max_length=64, blank=True, help_text="CI: the commit the results came from.")
    # CI: SHA-256 of the posted results, so a replay of the same key with other results is told apart.
    request_digest = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="evals_evalrun_status_valid"),
            models.CheckConstraint(
                condition=Q(done_cases__lte=models.F("total_cases")), name="evals_evalrun_done_le_total"
            ),
            models.CheckConstraint(
                condition=~Q(status=RunStatus.COMPLETED)
                | (Q(pass_rate_pct__isnull=False) & Q(passed__isnull=False) & Q(finished_at__isnull=False)),
                name="evals_evalrun_completed_has_result",
            ),
        ]
        indexes = [models.Index(fields=["agent", "-created_at"]), models.Index(fields=["version", "status"])]

    def __str__(self) -> str:
        return f"Eval #{self.pk} of {self.version} on {self.set_version}"

    def get_absolute_url(self) -> str:
        return reverse("evals:run_detail", kwargs={"pk": self.pk})

    @property
    def progress_pct(self) -> int:
        if self.status == RunStatus.COMPLETED:
            return 100
        if not self.total_cases:
            return 0
        return int(self.done_cases * 100 / self.total_cases)

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)


class CaseResult(models.Model):
    """What one case produced in one run."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(GoldenCase, on_delete=models.SET_NULL, null=True, blank=True, related_name="results")
    case_key = models.CharField(max_length=100)
    scorer = models.CharField(max_length=20, choices=Scorer.choices)
    output = models.JSONField(null=True, blank=True)
    score = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    passed = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    error = models.TextField(blank=True, max_length=2000)
    judge = models.ForeignKey(Judge, on_delete=models.PROTECT, null=True, blank=True, related_name="results")
    judge_reason = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "case_key"], name="evals_caseresult_unique_case_per_run"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=1), name="evals_caseresult_score_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.case_key}"


class HumanRating(models.Model):
    """A person's verdict on a judged case; the judge's agreement rate comes from these."""

    result = models.ForeignKey(CaseResult, on_delete=models.CASCADE, related_name="ratings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    human_passed = models.BooleanField()
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["result", "rater"], name="evals_humanrating_one_per_rater")]

    def __str__(self) -> str:
        return f"{self.rater} on {self.result}"


class DriftPolicy(models.Model):
    """Per-agent drift thresholds and the automatic action on a breach.

    Defaults come from the rollout playbook: containment dropping more than 10 points in
    30 minutes, error rate rising more than 5 points over 10 minutes, task success below
    the agent's threshold."""

    agent = models.OneToOneField("registry.Agent", on_delete=models.CASCADE, related_name="drift_policy")
    enabled = models.BooleanField(default=True)
    baseline_hours = models.PositiveIntegerField(default=24, validators=[MinValueValidator(1), MaxValueValidator(720)])
    containment_window_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(1440)]
    )
    containment_drop_points = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("10"))
    error_window_minutes = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(5), MaxValueValidator(1440)]
    )
    error_rise_points = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("5"))
    escalation_rise_points = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("10"))
    cost_rise_pct = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("50"))
    latency_rise_pct = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("50"))
    outcome_mix_psi = models.DecimalField(
        "outcome mix PSI threshold", max_digits=5, decimal_places=3, default=Decimal("0.25")
    )
    min_samples = models.PositiveIntegerField(
        default=50, validators=[MinValueValidator(10)], help_text="Runs needed in each window before testing."
    )
    significance = models.DecimalField(
        "significance level (one-sided)",
        max_digits=6,
        decimal_places=5,
        default=Decimal("0.001"),
        validators=[MinValueValidator(Decimal("0.00001")), MaxValueValidator(Decimal("0.1"))],
    )
    action = models.CharField(max_length=20, choices=DriftAction.choices, default=DriftAction.NONE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "drift policies"
        constraints = [
            models.CheckConstraint(condition=Q(action__in=DriftAction.values), name="evals_driftpolicy_action_valid"),
            models.CheckConstraint(condition=Q(min_samples__gte=10), name="evals_driftpolicy_min_samples_10"),
            models.CheckConstraint(
                condition=Q(containment_drop_points__gt=0, error_rise_points__gt=0, escalation_rise_points__gt=0),
                name="evals_driftpolicy_points_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Drift policy of {self.agent}"


class DriftAlert(models.Model):
    """A drift check breach with the evidence that justified it. One open alert per agent
    and metric: later breaches of the same metric add to it instead of paging again."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.CASCADE, related_name="drift_alerts")
    metric = models.CharField(max_length=20, choices=DriftMetric.choices)
    status = models.CharField(max_length=15, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    summary = models.CharField(max_length=300)
    evidence = models.JSONField(help_text="Windows, counts, statistic, threshold.")
    statistic = models.CharField(max_length=40, blank=True)
    statistic_value = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    threshold = models.CharField(max_length=120, blank=True)
    action_taken = models.CharField(max_length=20, choices=DriftAction.choices, default=DriftAction.NONE)
    incident_id = models.PositiveBigIntegerField(null=True, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    detected_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-detected_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "metric"],
                condition=~Q(status=AlertStatus.RESOLVED),
                name="evals_driftalert_one_unresolved_per_metric",
            ),
            models.CheckConstraint(condition=Q(metric__in=DriftMetric.values), name="evals_driftalert_metric_valid"),
            models.CheckConstraint(condition=Q(status__in=AlertStatus.values), name="evals_driftalert_status_valid"),
        ]
        indexes = [models.Index(fields=["status", "-detected_at"])]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} drift on {self.agent}"

    def get_absolute_url(self) -> str:
        return reverse("evals:alert_detail", kwargs={"pk": self.pk})


auditlog.register(GoldenSet)
auditlog.register(GoldenSetVersion)
auditlog.register(GoldenCase)
auditlog.register(EvalTarget, exclude_fields=["secret", "updated_at"])
auditlog.register(Judge)
auditlog.register(EvalRun, exclude_fields=["done_cases"])
auditlog.register(HumanRating)
auditlog.register(DriftPolicy, exclude_fields=["updated_at"])
auditlog.register(DriftAlert, exclude_fields=["last_seen_at", "occurrences"])
