from django.contrib import admin

from registry.admin import ReadOnlyAdminMixin

from .models import (
    CaseResult,
    DriftAlert,
    DriftPolicy,
    EvalRun,
    EvalTarget,
    GoldenCase,
    GoldenSet,
    GoldenSetVersion,
    HumanRating,
    Judge,
)


class GoldenSetVersionInline(admin.TabularInline):
    model = GoldenSetVersion
    extra = 0
    fields = ["number", "note", "frozen_at"]
    readonly_fields = ["frozen_at"]


@admin.register(GoldenSet)
class GoldenSetAdmin(admin.ModelAdmin):
    list_display = ["name", "agent", "created_at"]
    list_filter = ["agent"]
    inlines = [GoldenSetVersionInline]


@admin.register(GoldenSetVersion)
class GoldenSetVersionAdmin(admin.ModelAdmin):
    list_display = ["golden_set", "number", "frozen_at"]
    readonly_fields = ["frozen_at"]


@admin.register(GoldenCase)
class GoldenCaseAdmin(admin.ModelAdmin):
    list_display = ["key", "set_version", "scorer"]
    list_filter = ["scorer"]


@admin.register(EvalTarget)
class EvalTargetAdmin(admin.ModelAdmin):
    list_display = ["agent", "endpoint_url", "timeout_seconds", "max_concurrency", "max_retries"]
    exclude = ["secret"]


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    list_display = ["name", "trusted", "agreement_pct", "sample_size", "calibrated_at"]
    readonly_fields = ["agreement_pct", "sample_size", "calibrated_at"]


class CaseResultInline(admin.TabularInline):
    model = CaseResult
    extra = 0
    can_delete = False
    fields = ["case_key", "passed", "score", "latency_ms", "cost_usd", "error"]
    readonly_fields = fields


@admin.register(EvalRun)
class EvalRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only evidence, superusers included: a run made here would pass the go-live eval gate
    without running a case (runs come from the runner or the CI results API)."""

    list_display = ["pk", "agent", "version", "set_version", "status", "pass_rate_pct", "passed", "created_at"]
    list_filter = ["status", "source", "passed"]
    readonly_fields = [f.name for f in EvalRun._meta.fields]
    inlines = [CaseResultInline]


@admin.register(HumanRating)
class HumanRatingAdmin(admin.ModelAdmin):
    list_display = ["result", "rater", "human_passed", "created_at"]


@admin.register(DriftPolicy)
class DriftPolicyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only, superusers included: the agent's drift page saves a tightening at once and
    proposes a weakening as a two-person request (``evals.drift_change``)."""

    list_display = ["agent", "enabled", "action", "containment_drop_points", "error_rise_points"]


@admin.register(DriftAlert)
class DriftAlertAdmin(admin.ModelAdmin):
    list_display = ["agent", "metric", "status", "detected_at", "occurrences", "action_taken"]
    list_filter = ["status", "metric"]
    readonly_fields = ["evidence"]
