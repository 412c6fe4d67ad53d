"""Service-level objectives with error-budget burn-rate alerts, and user-defined monitors on rollup
metrics. Both are evaluated by the beat task ``monitors.evaluate`` (``monitors/services.py``) and
alert through ``registry.channels.notify``."""

from __future__ import annotations

from decimal import Decimal

from auditlog.registry import auditlog
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from .choices import Comparator, Level, Metric, NoData, Scope

TARGET = [MinValueValidator(Decimal("50")), MaxValueValidator(Decimal("99.999"))]


class SLO(models.Model):
    """An agent's objectives (optionally for one channel of its runs): ``availability_target`` % of
    runs succeed (not errored, timed out or failed) and ``latency_target`` % finish under
    ``latency_threshold_ms``, over a rolling ``period_days``. The error budget is 100 % minus the
    target; the burn rate of a window is its bad share divided by the budget."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.CASCADE, related_name="slos")
    channel = models.CharField(
        max_length=20, blank=True, help_text="Only runs of this channel (telemetry Run.channel); empty: all runs."
    )
    availability_target = models.DecimalField(
        max_digits=6, decimal_places=3, default=Decimal("99.5"), validators=TARGET
    )
    latency_threshold_ms = models.PositiveIntegerField(
        default=5000, validators=[MinValueValidator(10), MaxValueValidator(600_000)]
    )
    latency_target = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal("95"), validators=TARGET)
    period_days = models.PositiveSmallIntegerField(default=30, validators=[MinValueValidator(1), MaxValueValidator(30)])
    is_active = models.BooleanField(default=True)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.OK)
    status = models.JSONField(default=dict, blank=True, help_text="Burn rates and budget of the last evaluation.")
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SLO"
        ordering = ["agent_id", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "channel"], name="monitors_slo_one_per_agent_channel"),
            models.CheckConstraint(
                condition=Q(availability_target__gte=50, availability_target__lt=100)
                & Q(latency_target__gte=50, latency_target__lt=100),
                name="monitors_slo_targets_in_range",
            ),
            models.CheckConstraint(condition=Q(period_days__gte=1, period_days__lte=30), name="monitors_slo_period"),
        ]

    def __str__(self) -> str:
        where = f" ({self.channel})" if self.channel else ""
        latency = f"{self.latency_target} % < {self.latency_threshold_ms} ms"
        return f"SLO of {self.agent}{where}: {self.availability_target} % ok, {latency}"


class Monitor(models.Model):
    """A user-defined monitor: every one of its conditions (AND) over the rollups of one agent, a
    team's agents or the portfolio. Its level is the lowest level all conditions reach."""

    name = models.CharField(max_length=120)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.AGENT)
    agent = models.ForeignKey(
        "registry.Agent", on_delete=models.CASCADE, null=True, blank=True, related_name="monitors"
    )
    team = models.ForeignKey("registry.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="monitors")
    no_data = models.CharField(max_length=10, choices=NoData.choices, default=NoData.OK)
    is_active = models.BooleanField(default=True)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.OK)
    last_values = models.JSONField(default=list, blank=True, help_text="Each condition's value at the last evaluation.")
    evaluated_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope=Scope.AGENT) & Q(agent__isnull=False) & Q(team__isnull=True))
                | (Q(scope=Scope.TEAM) & Q(team__isnull=False) & Q(agent__isnull=True))
                | (Q(scope=Scope.PORTFOLIO) & Q(agent__isnull=True) & Q(team__isnull=True)),
                name="monitors_monitor_scope_target",
            )
        ]

    def __str__(self) -> str:
        return self.name


class MonitorCondition(models.Model):
    """One condition: ``metric`` over the last ``window_minutes`` is above (or below) the alert
    threshold (and, optionally, a warning threshold reached first)."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="conditions")
    metric = models.CharField(max_length=20, choices=Metric.choices)
    comparator = models.CharField(max_length=5, choices=Comparator.choices, default=Comparator.ABOVE)
    window_minutes = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(5), MaxValueValidator(1440)], help_text="5 minutes to 24 hours."
    )
    warning_threshold = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    alert_threshold = models.DecimalField(max_digits=14, decimal_places=4)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_minutes__gte=5, window_minutes__lte=1440), name="monitors_condition_window"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} {self.comparator} {self.alert_threshold} over {self.window_minutes} min"


auditlog.register(SLO, exclude_fields=["level", "status", "evaluated_at"])
auditlog.register(Monitor, exclude_fields=["level", "last_values", "evaluated_at"])
auditlog.register(MonitorCondition)
