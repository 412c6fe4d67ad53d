from django.contrib import admin

from .models import AgentInvestment, BudgetAlert


@admin.register(AgentInvestment)
class AgentInvestmentAdmin(admin.ModelAdmin):
    list_display = ["agent", "build_cost_usd", "updated_at", "updated_by"]


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ["agent", "day", "month_to_date_usd", "projected_usd", "budget_usd", "notified_at"]
    list_filter = ["day"]
