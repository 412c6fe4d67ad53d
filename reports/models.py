"""What agents are worth: build costs and budget alerts (governed records, audited).

The rollups the pages read are telemetry's (``telemetry.models.HourlyRollup`` and
``DailyRollup``): telemetry owns runs and what is derived from them."""

from __future__ import annotations

from decimal import Decimal

from auditlog.registry import auditlog
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


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
        # The reports' own permission (it sat on the rollup state until rollups moved to telemetry).
        permissions = [
            ("view_reports", "Can read ROI, portfolio, review calendar and maturity reports"),
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


auditlog.register(AgentInvestment)
auditlog.register(BudgetAlert)
