"""ROI and cost per successful task against numbers computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from reports import selectors, services
from reports.models import AgentInvestment
from tests.factories import AgentFactory, AgentVersionFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db

START = date(2026, 6, 1)
END = date(2026, 7, 1)  # 30 days


@pytest.fixture
def small_fixture(settings):
    """GIVEN an agent live for 200 days: human cost 1.00 USD/min, 30 min per unit, infra 100 and
    ops 200 USD/month, build cost 12 000 USD; in June: 100 runs of 2 s at 0.10 USD each —
    80 resolved, 10 escalated with 5 human minutes each, 5 failed, 5 blocked (1 policy block each)."""
    settings.REPORTS_ROLLUP_SETTLE_SECONDS = 0
    agent = AgentFactory(
        human_cost_per_minute_usd=Decimal("1.00"),
        human_minutes_per_unit=Decimal("30"),
        monthly_infra_cost_usd=Decimal("100"),
        monthly_ops_cost_usd=Decimal("200"),
        deployed_at=datetime(2026, 1, 1, tzinfo=UTC),
        success_threshold_pct=Decimal("92"),
        escalation_threshold_pct=Decimal("8"),
    )
    version = AgentVersionFactory(agent=agent)
    AgentInvestment.objects.create(agent=agent, build_cost_usd=Decimal("12000"))
    t = datetime(2026, 6, 3, 9, tzinfo=UTC)
    plan = [("resolved", "0", 0)] * 80 + [("escalated", "5", 0)] * 10 + [("failed", "0", 0)] * 5
    plan += [("blocked", "0", 1)] * 5
    for i, (outcome, minutes, blocks) in enumerate(plan):
        make_run(
            agent,
            version=version,
            started_at=t + timedelta(hours=i * 6),
            outcome=outcome,
            human_minutes=minutes,
            latency_ms=2000,
            cost_usd="0.10",
            policy_blocks=blocks,
        )
    # Outside the period: must not count.
    make_run(agent, version=version, started_at=datetime(2026, 7, 2, tzinfo=UTC), cost_usd="99")
    services.rollup_refresh()
    return agent


def test_it_computes_roi_and_cost_per_success_as_by_hand(small_fixture):
    roi = selectors.agent_roi(agent=small_fixture, start=START, end=END)
    m = roi.metrics
    assert (m.runs, m.successes, m.escalations, m.failures, m.blocked, m.policy_blocks) == (100, 80, 10, 5, 5, 5)
    assert m.success_rate_pct == Decimal("80.0")
    assert m.escalation_rate_pct == Decimal("10.0")
    assert m.containment_pct == Decimal("90.0")
    assert m.intervention_rate_pct == Decimal("10.0")
    assert m.aht_seconds == Decimal("2.0")
    assert roi.live_days == 30
    # minutes automated = 80 × 30 − 10 × 5 = 2350; value = 2350 × 1.00
    assert roi.minutes_automated == Decimal("2350")
    assert roi.value_usd == Decimal("2350")
    assert roi.model_cost_usd == Decimal("10.00")
    # infra = 100 × 12 × 30 / 365 = 98.63; ops = 200 × 12 × 30 / 365 = 197.26
    assert selectors.money(roi.infra_cost_usd) == Decimal("98.63")
    assert selectors.money(roi.ops_cost_usd) == Decimal("197.26")
    # savings = 2350 − (10 + 98.63 + 197.26) = 2044.11; annualized = 2350 × 365/30 − 10 × 365/30 − 3600 = 24870
    assert selectors.money(roi.savings_usd) == Decimal("2044.11")
    assert selectors.money(roi.annualized_savings_usd) == Decimal("24870.00")
    # ROI multiple = 2350 / 305.89 = 7.68; payback = 12000 / (24870 / 12) = 5.8 months
    assert roi.roi_multiple == Decimal("7.68")
    assert roi.payback_months == Decimal("5.8")
    # blended cost per success = (10 + 98.63 + 50 × 1.00) / 80 = 1.9829
    assert roi.cost_per_success_usd.quantize(Decimal("0.0001")) == Decimal("1.9829")
    assert roi.below_thresholds == ["task success 80.0 % < 92 %", "escalation 10.0 % > 8 %"]


def test_it_sets_incident_cost_against_the_savings(small_fixture):
    from incidents.models import Incident

    Incident.objects.create(
        agent=small_fixture,
        severity="sev2",
        title="Refunds over policy",
        detection_source="person",
        detected_at=datetime(2026, 6, 10, tzinfo=UTC),
        financial_impact_usd=Decimal("500"),
    )
    Incident.objects.create(  # before the period: not counted
        agent=small_fixture,
        severity="sev3",
        title="Old",
        detection_source="person",
        detected_at=datetime(2026, 5, 10, tzinfo=UTC),
        financial_impact_usd=Decimal("7000"),
        status="resolved",
        mitigated_at=datetime(2026, 5, 10, 1, tzinfo=UTC),
        resolved_at=datetime(2026, 5, 10, 2, tzinfo=UTC),
    )
    roi = selectors.agent_roi(agent=small_fixture, start=START, end=END)
    assert roi.incident_cost_usd == Decimal("500")
    assert selectors.money(roi.net_of_incidents_usd) == Decimal("1544.11")
    # (2044.11 − 500) × 365 / 30
    assert selectors.money(roi.annualized_net_of_incidents_usd) == Decimal("18786.67")


def test_it_prorates_fixed_costs_from_go_live_inside_the_period(small_fixture):
    small_fixture.deployed_at = datetime(2026, 6, 16, tzinfo=UTC)
    small_fixture.save()
    roi = selectors.agent_roi(agent=small_fixture, start=START, end=END)
    assert roi.live_days == 15
    assert selectors.money(roi.infra_cost_usd) == Decimal("49.32")  # 1200 × 15 / 365


def test_portfolio_totals_are_the_sum_of_its_agents(small_fixture, board_user):
    other = AgentFactory(
        human_cost_per_minute_usd=Decimal("0.50"),
        human_minutes_per_unit=Decimal("10"),
        deployed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    for i in range(10):
        make_run(other, started_at=datetime(2026, 6, 5, tzinfo=UTC) + timedelta(hours=i), cost_usd="1")
    services.rollup_refresh()
    p = selectors.portfolio(user=board_user, start=START, end=END)
    by_slug = {r.agent.slug: r for r in p.rois}
    assert by_slug[other.slug].value_usd == Decimal("50.00")  # 10 × 10 min × 0.50
    assert p.totals.metrics.runs == 110
    assert p.totals.value_usd == Decimal("2400.00")
    assert p.totals.model_cost_usd == Decimal("20.00")
    assert p.top_by_savings[0].agent == small_fixture
    assert [r.agent for r in p.below_thresholds] == [small_fixture]
    assert sum(b["metrics"].runs for b in p.trend) == 110
    assert sum(b["value"] for b in p.trend) == Decimal("2400.00")


def test_reporting_periods_are_weekly_for_90_days_then_monthly():
    agent = AgentFactory(deployed_at=datetime(2026, 1, 1, tzinfo=UTC))
    periods = selectors.roi_periods(agent=agent, today=date(2026, 6, 15))
    weeks = [p for p in periods if p.grain == "week"]
    months = [p for p in periods if p.grain == "month"]
    assert weeks[0].start == date(2026, 1, 1) and weeks[0].end == date(2026, 1, 8)
    assert len(weeks) == 13 and weeks[-1].end == date(2026, 4, 1)  # 1 Jan + 90 days
    assert [p.start for p in months] == [date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)]
    assert months[-1].end == date(2026, 6, 15)  # the current month is partial
    # contiguous, no gaps or overlaps
    assert all(a.end == b.start for a, b in zip(periods, periods[1:], strict=False))
