"""Rollout plans: a version's way to 100 % in gated stages, and the gate results of each stage."""

from __future__ import annotations

from decimal import Decimal

from auditlog.registry import auditlog
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from .choices import (
    DEFAULT_COST_TOLERANCE_PCT,
    DEFAULT_MIN_SAMPLE,
    DEFAULT_P95_SLO_MS,
    DEFAULT_SUCCESS_TOLERANCE_PP,
    OnFailure,
    PlanStatus,
    Verdict,
)


class RolloutPlan(models.Model):
    """An approved plan taking ``version`` of ``agent`` from a small canary share to go-live.

    ``stages`` is a list of ``{"share_pct": "5", "min_hours": 48}``; the go-live (100 %) follows
    the last one. It is created only by applying an approved ``rollout_plan`` request: the plan is
    the two-person part, the steps within it are automatic (``rollouts.services.plan_tick``)."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.PROTECT, related_name="rollout_plans")
    version = models.ForeignKey("registry.AgentVersion", on_delete=models.PROTECT, related_name="rollout_plans")
    baseline_version = models.ForeignKey(
        "registry.AgentVersion",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The stable version the canary was compared with when the plan started.",
    )
    bundle_digest = models.CharField(max_length=64, help_text="The version's configuration as approved.")
    request = models.ForeignKey(
        "approvals.ApprovalRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=12, choices=PlanStatus.choices, default=PlanStatus.ACTIVE)
    on_failure = models.CharField(max_length=10, choices=OnFailure.choices, default=OnFailure.HALT)
    stages = models.JSONField()
    stage_index = models.PositiveSmallIntegerField(default=0)
    stage_started_at = models.DateTimeField()
    success_tolerance_pp = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal(DEFAULT_SUCCESS_TOLERANCE_PP)
    )
    cost_tolerance_pct = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal(DEFAULT_COST_TOLERANCE_PCT)
    )
    p95_slo_ms = models.PositiveIntegerField(default=DEFAULT_P95_SLO_MS)
    min_sample = models.PositiveIntegerField(default=DEFAULT_MIN_SAMPLE, validators=[MinValueValidator(1)])
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One plan moves an agent's canary at a time.
            models.UniqueConstraint(
                fields=["agent"], condition=Q(status="active"), name="rollouts_one_active_plan_per_agent"
            ),
            models.CheckConstraint(condition=Q(status__in=PlanStatus.values), name="rollouts_plan_status_valid"),
            models.CheckConstraint(condition=Q(on_failure__in=OnFailure.values), name="rollouts_plan_on_failure_valid"),
            models.CheckConstraint(condition=Q(success_tolerance_pp__gte=0), name="rollouts_plan_success_tol_positive"),
            models.CheckConstraint(condition=Q(cost_tolerance_pct__gte=0), name="rollouts_plan_cost_tol_positive"),
            models.CheckConstraint(condition=Q(min_sample__gte=1), name="rollouts_plan_min_sample_positive"),
            models.CheckConstraint(
                condition=~Q(version=models.F("baseline_version")), name="rollouts_plan_canary_is_not_baseline"
            ),
        ]

    def __str__(self) -> str:
        return f"Rollout of {self.version} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in (PlanStatus.ACTIVE, PlanStatus.HALTED)

    @property
    def current_share(self) -> Decimal:
        if self.status == PlanStatus.COMPLETED:
            return Decimal("100")
        return Decimal(self.stages[min(self.stage_index, len(self.stages) - 1)]["share_pct"])


class GateCheck(models.Model):
    """The latest gate evaluation of one stage of a plan (one row per stage, updated each tick, so
    the table stays small however often the task runs); ``gates`` lists each gate's figures."""

    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="gate_checks")
    stage_index = models.PositiveSmallIntegerField()
    verdict = models.CharField(max_length=4, choices=Verdict.choices)
    outcome = models.CharField(max_length=200, help_text="What the task did: waited, advanced, went live, halted…")
    checked_at = models.DateTimeField()
    window_start = models.DateTimeField()
    canary_runs = models.PositiveIntegerField(default=0)
    stable_runs = models.PositiveIntegerField(default=0)
    gates = models.JSONField(default=list)

    class Meta:
        ordering = ["plan", "stage_index"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "stage_index"], name="rollouts_one_check_per_stage"),
            models.CheckConstraint(condition=Q(verdict__in=Verdict.values), name="rollouts_check_verdict_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} stage {self.stage_index}: {self.verdict}"


auditlog.register(RolloutPlan)
