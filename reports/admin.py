from django.contrib import admin

from .models import AgentInvestment, BudgetAlert, DailyRollup, ReviewDossier, RollupState


@admin.register(RollupState)
class RollupStateAdmin(admin.ModelAdmin):
    list_display = ["watermark", "last_run_at", "last_buckets"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DailyRollup)
class DailyRollupAdmin(admin.ModelAdmin):
    list_display = ["agent", "version", "bucket_start", "runs", "successes", "cost_usd"]
    list_filter = ["agent"]
    date_hierarchy = "bucket_start"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AgentInvestment)
class AgentInvestmentAdmin(admin.ModelAdmin):
    list_display = ["agent", "build_cost_usd", "updated_at", "updated_by"]


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ["agent", "day", "month_to_date_usd", "projected_usd", "budget_usd", "notified_at"]
    list_filter = ["day"]


@admin.register(ReviewDossier)
class ReviewDossierAdmin(admin.ModelAdmin):
    list_display = ["review", "prepared_at", "notified_at"]
    readonly_fields = ["snapshot"]
