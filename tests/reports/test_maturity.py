"""Maturity stage on three fixtures — early, stage 3, stage 4 — with the deciding answers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from reports import services
from reports.maturity import maturity_assess
from tests.factories import AgentFactory, AgentVersionFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db


def _live(agent, runs=5):
    for i in range(runs):
        make_run(agent, started_at=timezone.now() - timedelta(days=2, hours=i), cost_usd="0.2")


def _eval_run(agent):
    from evals.models import EvalRun, GoldenSet, GoldenSetVersion

    version = AgentVersionFactory(agent=agent)
    gs = GoldenSet.objects.create(agent=agent, name=f"{agent.slug} golden")
    gsv = GoldenSetVersion.objects.create(golden_set=gs, number=1)
    return EvalRun.objects.create(
        agent=agent,
        version=version,
        set_version=gsv,
        idempotency_key=f"k-{agent.pk}",
        status="completed",
        pass_rate_pct=Decimal("95"),
        threshold_pct=Decimal("90"),
        passed=True,
        total_cases=1,
        done_cases=1,
        passed_cases=1,
        finished_at=timezone.now() - timedelta(days=3),
    )


def _incident(agent):
    from incidents.models import Incident

    return Incident.objects.create(
        agent=agent,
        severity="sev3",
        title="Slow answers",
        detection_source="person",
        detected_at=timezone.now() - timedelta(days=20),
    )


def _decided_request(agent):
    from approvals.models import ApprovalRequest

    return ApprovalRequest.objects.create(
        kind="go_live",
        agent=agent,
        payload={"x": 1},
        payload_hash="a" * 64,
        justification="Go live",
        policy_snapshot={},
        status="denied",
        decided_at=timezone.now() - timedelta(days=10),
        expires_at=timezone.now() + timedelta(days=4),
    )


def keys(answers):
    return {(a.key, a.yes) for a in answers}


def test_early_organisation_is_at_the_pilot_stage(db):
    """GIVEN one pilot agent reporting runs, nothing in production."""
    pilot = AgentFactory(status="pilot")
    _live(pilot)
    services.rollup_refresh()
    result = maturity_assess()
    assert result.stage == 2
    assert ("deployed_with_runs", True) in keys(result.deciding)
    assert ("production_in_use", False) in keys(result.deciding)
    assert {a.key for a in result.next_needs} >= {"production_in_use", "continuous_evals", "incident_process"}


def test_nothing_deployed_is_exploration(db):
    AgentFactory(status="proposed")
    result = maturity_assess()
    assert result.stage == 1
    assert [a.key for a in result.deciding] == ["deployed_with_runs"]


def test_one_production_agent_with_evals_costs_and_incidents_is_stage_3(db):
    """GIVEN one production agent with runs and cost, a budget, a recent eval run and an
    incident on record, but no approval workflow used and only one agent."""
    agent = AgentFactory(status="production", monthly_budget_usd=Decimal("500"))
    _live(agent)
    services.rollup_refresh()
    _eval_run(agent)
    _incident(agent)
    result = maturity_assess()
    assert result.stage == 3
    deciding = keys(result.deciding)
    assert {
        ("production_in_use", True),
        ("continuous_evals", True),
        ("cost_monitoring", True),
        ("incident_process", True),
    } <= deciding
    assert {("three_production", False), ("approval_workflow", False)} <= deciding
    assert {a.key for a in result.next_needs} == {"three_production", "approval_workflow"}


def test_a_missing_stage_3_answer_holds_the_stage_back_even_with_many_agents(db):
    agents = [AgentFactory(status="production", monthly_budget_usd=Decimal("500")) for _ in range(3)]
    for a in agents:
        _live(a)
    services.rollup_refresh()
    _incident(agents[0])
    _decided_request(agents[0])
    result = maturity_assess()  # no evals: stages cannot be skipped
    assert result.stage == 2
    assert ("continuous_evals", False) in keys(result.deciding)


def test_three_production_agents_and_an_approval_workflow_is_stage_4(db):
    agents = [AgentFactory(status="production", monthly_budget_usd=Decimal("500")) for _ in range(3)]
    for a in agents:
        _live(a)
    services.rollup_refresh()
    _eval_run(agents[0])
    _incident(agents[1])
    _decided_request(agents[2])
    result = maturity_assess()
    assert result.stage == 4
    deciding = keys(result.deciding)
    assert {("three_production", True), ("approval_workflow", True), ("fifty_production", False)} <= deciding
    assert {a.key for a in result.next_needs} == {"fifty_production"}  # money outcomes: all priced
