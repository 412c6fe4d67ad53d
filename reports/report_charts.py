"""The charts of each report page, drawn by :func:`reports.charts.chart`."""

from __future__ import annotations

from datetime import date

from django.utils.safestring import SafeString

from .charts import Series, chart
from .report_tables import period_savings
from .roi import Metrics, Roi
from .selectors import Period, Portfolio


def portfolio_charts(p: Portfolio) -> dict[str, SafeString]:
    labels = [f"{b['start']:%d %b}" if p.trend_grain == "week" else f"{b['start']:%b %Y}" for b in p.trend]
    return {
        "money": chart(
            title="Value, cost and savings per " + p.trend_grain,
            labels=labels,
            series=[
                Series("Value", [b["value"] for b in p.trend]),
                Series("Cost", [b["cost"] for b in p.trend]),
                Series("Savings", [b["savings"] for b in p.trend]),
            ],
            unit="USD",
            testid="chart-money",
        ),
        "runs": chart(
            title="Runs and task success per " + p.trend_grain,
            labels=labels,
            series=[Series("Runs", [b["metrics"].runs for b in p.trend], kind="bar")],
            width=360,
            testid="chart-runs",
        ),
        "success": chart(
            title="Task success rate per " + p.trend_grain,
            labels=labels,
            series=[Series("Task success %", [b["metrics"].success_rate_pct for b in p.trend])],
            unit="%",
            width=360,
            testid="chart-success",
        ),
    }


def period_label(period: Period) -> str:
    """A short axis label: "Week 3" for a week, "Nov 2026" for a month."""
    return period.label.split(" (")[0] if period.grain == "week" else f"{period.start:%b %Y}"


def agent_charts(series: list[tuple[date, Metrics]], periods: list[tuple[Period, Roi]]) -> dict[str, SafeString]:
    labels = [f"{d:%d %b}" for d, _ in series]
    return {
        "daily": chart(
            title="Runs per day",
            labels=labels,
            series=[Series("Runs", [m.runs for _, m in series], kind="bar")],
            testid="chart-agent-runs",
        ),
        "success": chart(
            title="Task success and escalation per day",
            labels=labels,
            series=[
                Series("Task success %", [m.success_rate_pct for _, m in series]),
                Series("Escalation %", [m.escalation_rate_pct for _, m in series]),
            ],
            unit="%",
            testid="chart-agent-success",
        ),
        "periods": chart(
            title="Savings per reporting period",
            labels=[period_label(p) for p, _ in periods],
            series=[Series("Savings", [period_savings(r) for _, r in periods], kind="bar")],
            unit="USD",
            testid="chart-agent-periods",
        ),
    }
