"""The rollup reads every report shares: daily rows of a period, summed counters, and the
per-agent figures from other apps (incident cost, build cost)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import QuerySet, Sum

from incidents.selectors import incident_cost_by_agent
from telemetry.models import DailyRollup

from ..models import AgentInvestment
from ..roi import SUM_FIELDS, day_start


def sum_annotations() -> dict:
    return {f: Sum(f) for f in SUM_FIELDS}


def daily_rollups(*, start: date, end: date) -> QuerySet[DailyRollup]:
    return DailyRollup.objects.filter(bucket_start__gte=day_start(start), bucket_start__lt=day_start(end))


def incident_costs(*, start: date, end: date) -> dict[int, Decimal]:
    """Incident financial impact per agent id, of incidents detected in [start, end)."""
    costs = incident_cost_by_agent(start=day_start(start), end=day_start(end))
    return {int(k): Decimal(v) for k, v in costs.items()}


def investments(agent_ids) -> dict[int, Decimal]:
    """One-time build cost per agent id (the basis of the payback period)."""
    return dict(AgentInvestment.objects.filter(agent_id__in=agent_ids).values_list("agent_id", "build_cost_usd"))
