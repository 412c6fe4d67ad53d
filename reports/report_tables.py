"""The tables of each report page, one function per table. Each renders as HTML and downloads
as CSV (``?export=<key>``) from the same definition (:mod:`reports.tables`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.urls import reverse

from actions.selectors import GateFigures, NearMiss
from registry.models import Agent

from .maturity import Maturity
from .roi import Roi
from .selectors import BudgetBurn, DueItem, Period, Portfolio
from .tables import Column, Link, Table


def agent_linker() -> Callable[[Agent], Link]:
    """Links to agents' ROI pages, with one reverse() per page instead of one per row
    (a 100-agent portfolio has some 300 links)."""
    prefix = reverse("reports:agent_roi", kwargs={"slug": "x"})[:-2]
    return lambda agent: Link(agent.name, f"{prefix}{agent.slug}/")


def rounded(value, places: str = "0.01") -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal(places))


_r = rounded


# --- the portfolio -------------------------------------------------------------------------


def portfolio_tables(p: Portfolio, burns: list[BudgetBurn]) -> list[Table]:
    link = agent_linker()
    return [
        _agents_table(p, link),
        _top_savings_table(p, link),
        _top_cost_table(p, link),
        _below_thresholds_table(p, link),
        _incident_cost_table(p, link),
        _trend_table(p),
        _budget_table(burns, link),
    ]


def _agents_table(p: Portfolio, link) -> Table:
    # get_status_display() hashes the choices on every call; a hundred rows read one dict.
    status_labels = {value: str(label) for value, label in Agent._meta.get_field("status").flatchoices}
    table = Table(
        "agents",
        "Every agent",
        [
            Column("Agent"),
            Column("Tier", "int"),
            Column("Status"),
            Column("Runs", "int"),
            Column("Task success %", "pct"),
            Column("Escalation %", "pct"),
            Column("Human intervention %", "pct"),
            Column("Containment %", "pct"),
            Column("Policy blocks (self-reported)", "int"),
            Column("Avg handle time (s)", "num"),
            Column("Model cost (USD)", "usd"),
            Column("Infra + ops (USD)", "usd"),
            Column("Value (USD)", "usd"),
            Column("Savings (USD)", "usd"),
            Column("Annualized savings (USD)", "usd"),
            Column("ROI ×", "num"),
            Column("Cost per success (USD)", "usd"),
            Column("Incident cost (USD)", "usd"),
            Column("Payback (months)", "num"),
        ],
    )
    for r in p.rois:
        m = r.metrics
        table.rows.append(
            [
                link(r.agent),
                r.agent.risk_tier,
                status_labels.get(r.agent.status, r.agent.status),
                m.runs,
                m.success_rate_pct,
                m.escalation_rate_pct,
                m.intervention_rate_pct,
                m.containment_pct,
                m.policy_blocks,
                m.aht_seconds,
                _r(r.model_cost_usd),
                _r(r.infra_cost_usd + r.ops_cost_usd),
                _r(r.value_usd),
                _r(r.savings_usd),
                _r(r.annualized_savings_usd),
                r.roi_multiple,
                _r(r.cost_per_success_usd, "0.0001"),
                _r(r.incident_cost_usd),
                r.payback_months,
            ]
        )
    return table


def _top_savings_table(p: Portfolio, link) -> Table:
    return Table(
        "top-savings",
        "Top agents by savings",
        [Column("Agent"), Column("Savings (USD)", "usd"), Column("Annualized (USD)", "usd"), Column("ROI ×", "num")],
        [[link(r.agent), _r(r.savings_usd), _r(r.annualized_savings_usd), r.roi_multiple] for r in p.top_by_savings],
    )


def _top_cost_table(p: Portfolio, link) -> Table:
    return Table(
        "top-cost",
        "Top agents by cost",
        [
            Column("Agent"),
            Column("Total cost (USD)", "usd"),
            Column("Model cost (USD)", "usd"),
            Column("Cost per success (USD)", "usd"),
        ],
        [
            [link(r.agent), _r(r.total_cost_usd), _r(r.model_cost_usd), _r(r.cost_per_success_usd, "0.0001")]
            for r in p.top_by_cost
        ],
    )


def _below_thresholds_table(p: Portfolio, link) -> Table:
    return Table(
        "below-thresholds",
        "Agents below their thresholds",
        [
            Column("Agent"),
            Column("Task success %", "pct"),
            Column("Threshold %", "pct"),
            Column("Escalation %", "pct"),
            Column("Ceiling %", "pct"),
            Column("Missed"),
        ],
        [
            [
                link(r.agent),
                r.metrics.success_rate_pct,
                r.agent.success_threshold_pct,
                r.metrics.escalation_rate_pct,
                r.agent.escalation_threshold_pct,
                "; ".join(r.below_thresholds),
            ]
            for r in p.below_thresholds
        ],
        empty="Every agent with runs met its thresholds in this period.",
    )


def _incident_cost_table(p: Portfolio, link) -> Table:
    return Table(
        "incident-cost",
        "Incident cost against savings",
        [
            Column("Agent"),
            Column("Incident cost (USD)", "usd"),
            Column("Savings (USD)", "usd"),
            Column("Net of incidents (USD)", "usd"),
        ],
        [
            [link(r.agent), _r(r.incident_cost_usd), _r(r.savings_usd), _r(r.net_of_incidents_usd)]
            for r in p.with_incident_cost
        ],
        empty="No incident with a financial impact in this period.",
    )


def _trend_table(p: Portfolio) -> Table:
    return Table(
        "trend",
        "Trend",
        [
            Column("From", "date"),
            Column("To", "date"),
            Column("Runs", "int"),
            Column("Task success %", "pct"),
            Column("Model cost (USD)", "usd"),
            Column("Infra + ops (USD)", "usd"),
            Column("Value (USD)", "usd"),
            Column("Savings (USD)", "usd"),
        ],
        [
            [
                b["start"],
                b["end"] - timedelta(days=1),
                b["metrics"].runs,
                b["metrics"].success_rate_pct,
                _r(b["metrics"].cost_usd),
                _r(b["fixed"]),
                _r(b["value"]),
                _r(b["savings"]),
            ]
            for b in p.trend
        ],
    )


def _budget_table(burns: list[BudgetBurn], link) -> Table:
    return Table(
        "budget",
        "Budget burn this month",
        [
            Column("Agent"),
            Column("Monthly budget (USD)", "usd"),
            Column("Month to date (USD)", "usd"),
            Column("Projected (USD)", "usd"),
            Column("Projected % of budget", "pct"),
            Column("Alert"),
        ],
        [
            [
                link(b.agent),
                b.budget_usd,
                _r(b.month_to_date_usd),
                b.projected_usd,
                b.burn_pct,
                "over budget" if b.over_budget else "",
            ]
            for b in sorted(burns, key=lambda b: -(b.burn_pct or 0))
        ],
        empty="No live agent has a monthly budget.",
    )


# --- one agent -----------------------------------------------------------------------------


def gate_tables(
    p: Portfolio, figures: dict[int, GateFigures], register: list[NearMiss], actions: int, queue_depth: int, link
) -> list[Table]:
    """The gate's own record beside the agents' self-reports (issue 18, item 6): per agent, the
    automatic blocks, the approval-required rate and the time waiting for people; and the
    near-miss register (denials on tier 3-4 tools, per 1,000 action requests, by rule)."""
    gate = Table(
        "gate",
        f"The action gate's own decisions (approval queue now: {queue_depth} waiting)",
        [
            Column("Agent"),
            Column("Action requests", "int"),
            Column("Gate blocks", "int"),
            Column("Approval required", "int"),
            Column("Approval required %", "pct"),
            Column("Mean wait for a human (min)", "num"),
            Column("Policy blocks (self-reported)", "int"),
        ],
        note="Gate blocks: denied by a rule, a grant, the kill switch or a budget cap (not by a person). "
        "Self-reported blocks are what the agents count in their run summaries.",
        empty="No action requests in this period.",
    )
    for r in p.rois:
        f = figures.get(r.agent.pk)
        if f is None:
            continue
        gate.rows.append(
            [
                link(r.agent),
                f.actions,
                f.gate_blocks,
                f.approval_required,
                f.approval_required_pct,
                f.mean_wait_minutes,
                r.metrics.policy_blocks,
            ]
        )
    near = Table(
        "near-misses",
        f"Near-miss register: gate denials on tier 3-4 tools ({actions} action requests)",
        [
            Column("Tool"),
            Column("Tier", "int"),
            Column("Rule or reason"),
            Column("Denials", "int"),
            Column("Per 1,000 actions", "num"),
        ],
        [[n.tool, n.tier, n.rule, n.count, n.per_thousand] for n in register],
        empty="No denials on tier 3-4 tools in this period.",
    )
    return [gate, near]


def agent_tables(roi: Roi, periods: list[tuple[Period, Roi]], versions: list[dict]) -> list[Table]:
    return [_summary_table(roi), _periods_table(periods), _versions_table(versions)]


def _summary_table(roi: Roi) -> Table:
    m = roi.metrics
    return Table(
        "summary",
        "ROI for the period",
        [Column("Measure"), Column("Value")],
        [
            ["Runs", m.runs],
            ["Task success rate %", m.success_rate_pct],
            ["Escalation rate %", m.escalation_rate_pct],
            ["Human intervention rate %", m.intervention_rate_pct],
            ["Containment %", m.containment_pct],
            ["Policy blocks (self-reported by the agent)", m.policy_blocks],
            ["Average handle time (s)", m.aht_seconds],
            ["Latency p50 (ms)", m.latency_pct_ms(50)],
            ["Latency p95 (ms)", m.latency_pct_ms(95)],
            ["Minutes automated", _r(roi.minutes_automated)],
            ["Value at human cost (USD)", _r(roi.value_usd)],
            ["Model and tool cost (USD)", _r(roi.model_cost_usd)],
            ["Infrastructure cost (USD)", _r(roi.infra_cost_usd)],
            ["Operations and maintenance (USD)", _r(roi.ops_cost_usd)],
            ["Savings (USD)", _r(roi.savings_usd)],
            ["Annualized savings (USD)", _r(roi.annualized_savings_usd)],
            ["Incident cost (USD)", _r(roi.incident_cost_usd)],
            ["Net of incidents (USD)", _r(roi.net_of_incidents_usd)],
            ["ROI multiple", roi.roi_multiple],
            ["Cost per successful task, blended (USD)", _r(roi.cost_per_success_usd, "0.0001")],
            ["Payback (months)", roi.payback_months],
        ],
    )


def period_savings(roi: Roi) -> Decimal | None:
    """A period's savings, or None when the agent reported no run in it: its fixed costs alone
    would read as a loss the agent never made (the ROI of a period without work is undefined)."""
    return roi.savings_usd if roi.metrics.runs else None


def _periods_table(periods: list[tuple[Period, Roi]]) -> Table:
    return Table(
        "periods",
        "By reporting period (weekly for the first 90 days in production, monthly after)",
        [
            Column("Period"),
            Column("From", "date"),
            Column("To", "date"),
            Column("Runs", "int"),
            Column("Task success %", "pct"),
            Column("Escalation %", "pct"),
            Column("Model cost (USD)", "usd"),
            Column("Value (USD)", "usd"),
            Column("Savings (USD)", "usd"),
            Column("Cost per success (USD)", "usd"),
        ],
        [
            [
                p.label,
                p.start,
                p.end - timedelta(days=1),
                r.metrics.runs,
                r.metrics.success_rate_pct,
                r.metrics.escalation_rate_pct,
                _r(r.model_cost_usd),
                _r(r.value_usd),
                _r(period_savings(r)),
                _r(r.cost_per_success_usd, "0.0001"),
            ]
            for p, r in reversed(periods)
        ],
        empty="No reporting period with runs in this range (or not in production yet).",
    )


def _versions_table(versions: list[dict]) -> Table:
    return Table(
        "versions",
        "By version",
        [
            Column("Version"),
            Column("Runs", "int"),
            Column("Task success %", "pct"),
            Column("Errors %", "pct"),
            Column("p50 (ms)", "int"),
            Column("p95 (ms)", "int"),
            Column("p99 (ms)", "int"),
            Column("Cost (USD)", "usd"),
        ],
        [
            [
                v["version"],
                v["metrics"].runs,
                v["metrics"].success_rate_pct,
                v["metrics"].error_rate_pct,
                v["metrics"].latency_pct_ms(50),
                v["metrics"].latency_pct_ms(95),
                v["metrics"].latency_pct_ms(99),
                _r(v["metrics"].cost_usd),
            ]
            for v in versions
        ],
    )


# --- reviews and maturity ------------------------------------------------------------------


def review_tables(items: list[DueItem]) -> list[Table]:
    table = Table(
        "reviews",
        "Reviews",
        [
            Column("Agent"),
            Column("Tier", "int"),
            Column("Kind"),
            Column("Due", "date"),
            Column("State"),
            Column("Owner"),
        ],
        [
            [
                Link(
                    i.agent.name,
                    reverse("reports:review_detail", kwargs={"pk": i.review.pk})
                    if i.review
                    else reverse("reports:agent_roi", kwargs={"slug": i.agent.slug}),
                ),
                i.agent.risk_tier,
                i.review.get_kind_display() if i.review else "Scheduled (not opened yet)",
                i.due_on,
                "overdue" if i.is_overdue else ("open" if i.review else "upcoming"),
                i.agent.owner.get_full_name() or i.agent.owner.username,
            ]
            for i in items
        ],
        empty="No review is due.",
    )
    return [table]


def maturity_tables(result: Maturity) -> list[Table]:
    return [
        Table(
            "answers",
            "Answers",
            [Column("Stage", "int"), Column("Question"), Column("Answer"), Column("Evidence")],
            [[a.stage, a.question, "yes" if a.yes else "no", a.evidence] for a in result.answers],
        )
    ]
