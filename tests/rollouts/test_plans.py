"""Rollout plans: approved by two, advanced by the beat task on synthetic telemetry when gates
pass, halted or rolled back with an incident when one fails; each step announced before it is
written and on the audit chain; the task run twice makes one step."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from approvals.choices import RequestStatus
from approvals.services import change_request_create, decision_record
from incidents.models import Incident
from registry.choices import VersionState
from registry.extensions import before_automatic_change
from registry.models import Agent, AuditEntry
from rollouts.choices import PlanStatus
from rollouts.models import GateCheck, RolloutPlan
from rollouts.services import plan_tick
from telemetry.models import ComplianceViolation
from tests.rollouts.conftest import make_runs

pytestmark = pytest.mark.django_db

TWO_STAGES = [{"share_pct": "1", "min_hours": 24}, {"share_pct": "20", "min_hours": 24}]


def _approved_plan(agent, owner_user, approvers, **payload) -> RolloutPlan:
    req = change_request_create(
        agent=agent,
        kind="rollout_plan",
        payload={"version": "1.1", "stages": TWO_STAGES, "min_sample": 50, **payload},
        requester=owner_user,
        justification="Roll 1.1 out in gated stages.",
    )
    for approver in approvers:
        decision_record(
            request_id=req.pk, approver=approver, verdict="approve", reason="Checked.", payload_hash=req.payload_hash
        )
    req.refresh_from_db()
    assert req.status == RequestStatus.APPLIED, req.status
    return RolloutPlan.objects.get(request=req)


def _good_traffic(agent, stable, canary, start):
    make_runs(agent, stable, n=200, ok=180, start=start)  # 90 %
    make_runs(agent, canary, n=60, ok=54, start=start)  # 90 %


def test_a_plan_needs_two_approvals_and_then_starts_at_the_first_share(agent, versions, owner_user, approvers):
    _prev, _stable, canary = versions
    req = change_request_create(
        agent=agent,
        kind="rollout_plan",
        payload={"version": "1.1"},
        requester=owner_user,
        justification="Gradual rollout.",
    )
    assert req.policy_snapshot["required_approvals"] >= 2
    assert req.payload["stages"] == [
        {"share_pct": "1", "min_hours": 72},
        {"share_pct": "5", "min_hours": 72},
        {"share_pct": "20", "min_hours": 72},
    ]
    decision_record(
        request_id=req.pk, approver=approvers[0], verdict="approve", reason="ok", payload_hash=req.payload_hash
    )
    assert not RolloutPlan.objects.exists()
    assert Agent.objects.get(pk=agent.pk).canary_version is None
    decision_record(
        request_id=req.pk, approver=approvers[1], verdict="approve", reason="ok", payload_hash=req.payload_hash
    )
    agent.refresh_from_db()
    assert (agent.canary_version, agent.canary_share_pct) == (canary, Decimal("1.00"))
    assert RolloutPlan.objects.get().status == PlanStatus.ACTIVE


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"version": "0.9"}, "version"),
        ({"version": "1.0"}, "version"),
        ({"version": "nope"}, "version"),
        ({"version": "1.1", "stages": [{"share_pct": "5", "min_hours": 1}] * 2}, "stages"),
        ({"version": "1.1", "stages": [{"share_pct": "100", "min_hours": 1}]}, "share_pct"),
        ({"version": "1.1", "stages": "1,5,20"}, "stages"),
        ({"version": "1.1", "on_failure": "explode"}, "on_failure"),
        ({"version": "1.1", "min_sample": 0}, "min_sample"),
        ({"version": "1.1", "success_tolerance_pp": "abc"}, "success_tolerance_pp"),
        ({"version": "1.1", "preset": "yolo"}, "preset"),
        ({"version": "1.1", "colour": "red"}, "payload"),
    ],
)
def test_a_bad_plan_is_refused_with_the_field_named_and_nothing_changes(agent, versions, owner_user, payload, field):
    with pytest.raises(ValidationError) as exc:
        change_request_create(
            agent=agent, kind="rollout_plan", payload=payload, requester=owner_user, justification="Try."
        )
    assert field in exc.value.message_dict
    agent.refresh_from_db()
    assert agent.canary_version is None and not RolloutPlan.objects.exists()


def test_the_plan_advances_through_its_stages_and_goes_live(agent, versions, owner_user, approvers):
    _prev, stable, canary = versions
    announced = []
    with before_automatic_change.override(
        lambda change: announced.append((change.kind, Agent.objects.get(pk=change.agent.pk).canary_share_pct))
    ):
        plan = _approved_plan(agent, owner_user, approvers)
        start = plan.stage_started_at
        _good_traffic(agent, stable, canary, start + timedelta(minutes=1))

        # Gates pass but the stage's 24 hours are not over: wait.
        assert plan_tick(plan_id=plan.pk, now=start + timedelta(hours=2)) == "waiting for the minimum duration"
        later = start + timedelta(hours=25)
        assert plan_tick(plan_id=plan.pk, now=later) == "advanced to 20 %"
        # The beat task run again at the same moment makes no second step.
        assert plan_tick(plan_id=plan.pk, now=later) == "waiting for runs"
        agent.refresh_from_db()
        assert agent.canary_share_pct == Decimal("20.00")
        assert AuditEntry.objects.filter(action="rollout.step").count() == 1

        _good_traffic(agent, stable, canary, later + timedelta(minutes=1))
        assert plan_tick(plan_id=plan.pk, now=later + timedelta(hours=25)) == "went live at 100 %"

    plan.refresh_from_db()
    agent.refresh_from_db()
    canary.refresh_from_db()
    assert plan.status == PlanStatus.COMPLETED
    assert canary.state == VersionState.DEPLOYED and agent.canary_version is None
    # Each automatic step was announced before it was written (the share was still the old one).
    assert announced == [("rollout_step", Decimal("1.00")), ("rollout_step", Decimal("20.00"))]
    assert AuditEntry.objects.filter(action="rollout.complete").count() == 1
    check = GateCheck.objects.get(plan=plan, stage_index=0)
    assert check.verdict == "pass" and {g["name"] for g in check.gates} >= {"success", "latency", "cost", "sample"}


def test_a_failing_success_gate_halts_the_plan_with_an_incident_and_its_evidence(
    agent, versions, owner_user, approvers
):
    _prev, stable, canary = versions
    plan = _approved_plan(agent, owner_user, approvers)
    start = plan.stage_started_at + timedelta(minutes=1)
    make_runs(agent, stable, n=200, ok=180, start=start)  # 90 %
    make_runs(agent, canary, n=60, ok=36, start=start)  # 60 %: 30 points down, p < 0.001

    outcome = plan_tick(plan_id=plan.pk, now=plan.stage_started_at + timedelta(hours=2))

    plan.refresh_from_db()
    agent.refresh_from_db()
    assert outcome.startswith("halted; incident")
    assert plan.status == PlanStatus.HALTED
    assert agent.canary_share_pct == Decimal("1.00")  # halted, not rolled back
    incident = Incident.objects.get(agent=agent)
    assert "Success rate: canary 60.0 % (36/60), stable 90.0 % (180/200)" in incident.summary
    assert "drop 30.0" in incident.summary
    assert incident.version == canary
    assert AuditEntry.objects.filter(action="rollout.halt").count() == 1
    # A halted plan is not ticked again.
    assert plan_tick(plan_id=plan.pk, now=plan.stage_started_at + timedelta(hours=30)) == "not active (halted)"


def test_configured_to_roll_back_a_failing_gate_sends_the_canary_to_zero(agent, versions, owner_user, approvers):
    _prev, stable, canary = versions
    announced = []
    plan = _approved_plan(agent, owner_user, approvers, on_failure="rollback", p95_slo_ms=5000)
    start = plan.stage_started_at + timedelta(minutes=1)
    make_runs(agent, stable, n=200, ok=180, start=start)
    make_runs(agent, canary, n=60, ok=54, start=start, latency_ms=9000)  # p95 9 s > 5 s SLO
    with before_automatic_change.override(
        lambda change: announced.append((change.kind, Agent.objects.get(pk=change.agent.pk).canary_share_pct))
    ):
        plan_tick(plan_id=plan.pk, now=plan.stage_started_at + timedelta(hours=2))

    plan.refresh_from_db()
    agent.refresh_from_db()
    assert plan.status == PlanStatus.ROLLED_BACK
    assert agent.canary_version is None and agent.canary_share_pct == 0
    assert announced == [("canary_rollback", Decimal("1.00"))]
    incident = Incident.objects.get(agent=agent)
    assert "p95 latency" in incident.summary and "9000 ms" in incident.summary
    assert AuditEntry.objects.filter(action="rollout.rollback").count() == 1


def test_a_new_compliance_violation_fails_the_gate_whatever_the_sample(agent, versions, owner_user, approvers):
    _prev, _stable, canary = versions
    plan = _approved_plan(agent, owner_user, approvers)
    ComplianceViolation.objects.create(
        agent=agent,
        version=canary,
        version_key="1.1",
        kind="ungranted_tool",
        hour=timezone.now().replace(minute=0, second=0, microsecond=0),
        detail="payments.refund used",
        first_run_id="r-x",
        run_count=3,
    )
    plan_tick(plan_id=plan.pk, now=plan.stage_started_at + timedelta(minutes=10))
    plan.refresh_from_db()
    assert plan.status == PlanStatus.HALTED
    assert Incident.objects.get(agent=agent).failure_mode == "policy_violation"


def test_too_few_runs_waits_and_decides_nothing(agent, versions, owner_user, approvers):
    _prev, stable, canary = versions
    plan = _approved_plan(agent, owner_user, approvers)
    start = plan.stage_started_at + timedelta(minutes=1)
    make_runs(agent, stable, n=200, ok=180, start=start)
    make_runs(agent, canary, n=10, ok=0, start=start)  # dreadful, but 10 runs < 50
    assert plan_tick(plan_id=plan.pk, now=plan.stage_started_at + timedelta(hours=30)) == "waiting for runs"
    plan.refresh_from_db()
    assert plan.status == PlanStatus.ACTIVE and plan.stage_index == 0


def test_a_canary_changed_by_hand_cancels_the_plan(agent, versions, owner_user, approvers):
    from registry.services import agent_controls_update

    plan = _approved_plan(agent, owner_user, approvers)
    agent_controls_update(agent_id=agent.pk, canary_version=None, canary_share_pct=Decimal("0"))
    assert plan_tick(plan_id=plan.pk).startswith("cancelled")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CANCELLED


def test_the_beat_schedule_exists():
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.filter(task="rollouts.tasks.rollout_plans_tick", enabled=True).exists()


def test_the_beat_task_ticks_every_active_plan(agent, versions, owner_user, approvers):
    from rollouts.tasks import rollout_plans_tick

    plan = _approved_plan(agent, owner_user, approvers)
    assert rollout_plans_tick() == 1  # one active plan evaluated (it waits: no runs yet)
    assert plan.gate_checks.get(stage_index=0).verdict == "wait"


def test_the_request_form_offers_the_plan_and_creates_the_request(client, agent, versions, owner_user):
    from approvals.models import ApprovalRequest

    url = f"/approvals/new/{agent.slug}/rollout_plan/"
    client.force_login(owner_user)
    page = client.get(url, {"version": "1.1", "preset": "canary_48h"})
    assert page.status_code == 200 and "Canary: 5 % for 48 hours" in page.content.decode()
    form = {"version": "1.1", "preset": "canary_48h", "on_failure": "rollback", "success_tolerance_pp": "2",
            "p95_slo_ms": "8000", "justification": "Roll out."}  # fmt: skip
    bad = client.post(url, {**form, "success_tolerance_pp": "-1"})
    assert bad.status_code == 400 and "success" in bad.content.decode().lower()
    assert not ApprovalRequest.objects.filter(kind="rollout_plan").exists()
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    req = ApprovalRequest.objects.get(kind="rollout_plan")
    assert req.payload["stages"] == [{"share_pct": "5", "min_hours": 48}] and req.payload["on_failure"] == "rollback"
