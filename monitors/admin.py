from django.contrib import admin

from .models import SLO, Monitor, MonitorCondition


class ConditionInline(admin.TabularInline):
    model = MonitorCondition
    extra = 1


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "agent", "team", "level", "evaluated_at", "is_active"]
    list_filter = ["scope", "level", "is_active"]
    readonly_fields = ["level", "last_values", "evaluated_at"]
    inlines = [ConditionInline]


@admin.register(SLO)
class SLOAdmin(admin.ModelAdmin):
    list_display = ["agent", "channel", "availability_target", "latency_target", "latency_threshold_ms", "level"]
    list_filter = ["level", "is_active"]
    readonly_fields = ["level", "status", "evaluated_at"]
