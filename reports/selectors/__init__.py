"""Report reads, one module per topic; everything reads rollups (telemetry's ``DailyRollup``,
``HourlyRollup``), never raw runs, so a page costs the same at ten thousand runs as at a million.

* :mod:`.agents` — one agent: ROI over a period, by reporting period, per day, per version;
* :mod:`.portfolio` — every agent a user may see: ROI, totals, trend (one GROUPING SETS scan);
* :mod:`.budget` — month-to-date spend projected to the month's end, budget alerts;
* :mod:`.reviews` — the review calendar and the overdue list;
* :mod:`.sums` — the rollup reads they share.

The ROI formulas are in :mod:`reports.roi`. The names below are the reads the pages, panels and
tests call, so callers say ``selectors.portfolio(...)`` whatever module holds it."""

from ..roi import SUM_FIELDS, Metrics, PortfolioTotals, Roi, day_start, live_days, money, pct
from .agents import (
    Period,
    agent_daily_series,
    agent_first_run_day,
    agent_last_24h,
    agent_metrics,
    agent_reporting_periods,
    agent_roi,
    agent_roi_by_period,
    agent_versions_breakdown,
    roi_periods,
)
from .budget import BudgetBurn, budget_alerts_current, budget_burns, month_bounds
from .portfolio import Portfolio, portfolio, portfolio_trend
from .reviews import DueItem, calendar_weeks, reviews_due, reviews_open, reviews_overdue
from .sums import daily_rollups, incident_costs, investments

__all__ = [
    "SUM_FIELDS",
    "BudgetBurn",
    "DueItem",
    "Metrics",
    "Period",
    "Portfolio",
    "PortfolioTotals",
    "Roi",
    "agent_daily_series",
    "agent_first_run_day",
    "agent_last_24h",
    "agent_metrics",
    "agent_reporting_periods",
    "agent_roi",
    "agent_roi_by_period",
    "agent_versions_breakdown",
    "budget_alerts_current",
    "budget_burns",
    "calendar_weeks",
    "daily_rollups",
    "day_start",
    "incident_costs",
    "investments",
    "live_days",
    "money",
    "month_bounds",
    "pct",
    "portfolio",
    "portfolio_trend",
    "reviews_due",
    "reviews_open",
    "reviews_overdue",
    "roi_periods",
]
