"""Rollups in the admin: read-only (derived data, recomputed from runs)."""

from django.contrib import admin

from .models import DailyRollup, RollupState


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
