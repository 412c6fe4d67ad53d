"""Budget burn: month-to-date spend projected to the month's end, and the alerts raised."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from registry.db_routing import reads_from_replica
from registry.models import Agent
from registry.selectors import agents_visible_to

from ..models import BudgetAlert
from ..roi import LIVE_STATUSES, day_start, money, pct
from .sums import daily_rollups


@dataclass
class BudgetBurn:
    """Month-to-date spend projected linearly to the month's end."""

    agent: Agent
    month_start: date
    month_to_date_usd: Decimal
    elapsed_fraction: Decimal
    budget_usd: Decimal

    @property
    def projected_usd(self) -> Decimal:
        if not self.elapsed_fraction:
            return Decimal("0")
        return money(self.month_to_date_usd / self.elapsed_fraction)

    @property
    def over_budget(self) -> bool:
        return bool(self.budget_usd) and self.projected_usd > self.budget_usd

    @property
    def burn_pct(self) -> Decimal | None:
        return pct(self.projected_usd, self.budget_usd)


def month_bounds(moment: datetime) -> tuple[date, date, Decimal]:
    """(first day, first day of next month, fraction of the month elapsed at ``moment``)."""
    first = moment.date().replace(day=1)
    days = calendar.monthrange(first.year, first.month)[1]
    nxt = first + timedelta(days=days)
    elapsed = (moment - day_start(first)).total_seconds() / (days * 86400)
    return first, nxt, Decimal(str(round(max(elapsed, 1 / (days * 24)), 6)))


@reads_from_replica
def budget_burns(*, now: datetime, agents: QuerySet[Agent] | list[Agent] | None = None) -> list[BudgetBurn]:
    """Month-to-date run cost per live agent with a budget, projected to the month's end:
    projected = month-to-date spend / elapsed fraction of the month (elapsed counted to the
    hour, at least one hour so the 1st of the month does not divide by zero). ``agents`` may
    be a list already loaded (the portfolio's), filtered the same way in Python."""
    if isinstance(agents, list):
        agents = [a for a in agents if a.status in LIVE_STATUSES and a.monthly_budget_usd > 0]
        of_agents = Q(agent_id__in=[a.pk for a in agents])
    else:
        agents = (agents if agents is not None else Agent.objects.all()).filter(
            status__in=LIVE_STATUSES, monthly_budget_usd__gt=0
        )
        of_agents = Q(agent__in=agents)
    first, nxt, elapsed = month_bounds(now)
    spend = dict(
        daily_rollups(start=first, end=nxt)
        .filter(of_agents)
        .values("agent_id")
        .annotate(c=Sum("cost_usd"))
        .values_list("agent_id", "c")
    )
    return [
        BudgetBurn(
            agent=a,
            month_start=first,
            month_to_date_usd=Decimal(spend.get(a.pk) or 0),
            elapsed_fraction=elapsed,
            budget_usd=a.monthly_budget_usd,
        )
        for a in agents
    ]


def budget_alerts_current(*, user, today: date) -> list[BudgetAlert]:
    """This month's newest alert per agent the user may see (home and portfolio pages)."""
    visible = agents_visible_to(user).values("pk")
    alerts = (
        BudgetAlert.objects.filter(agent__in=visible, day__gte=today.replace(day=1), day__lte=today)
        .select_related("agent")
        .order_by("-day", "agent__name")
    )
    newest: dict[int, BudgetAlert] = {}
    for alert in alerts:
        newest.setdefault(alert.agent_id, alert)
    return list(newest.values())
