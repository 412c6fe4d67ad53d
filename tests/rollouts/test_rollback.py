"""Rollback to the previous version: one operator, a reason, the previous version deployed again,
the canary at 0, the controls answer changed at once, an incident linked; going forward again
takes the usual approvals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from approvals.choices import RequestStatus
from approvals.services import change_request_create, checklist_item_tick, decision_record
from incidents.models import Incident
from registry.choices import VersionState
from registry.models import AuditEntry
from registry.services import agent_controls_update
from rollouts.choices import PlanStatus
from rollouts.services import rollback_to_previous
from tests.rollouts.test_plans import _approved_plan

pytestmark = pytest.mark.django_db


def _rollback(client, agent, reason="Answers got worse after 1.0"):
    return client.post(reverse("rollouts:rollback", args=[agent.slug]), {"reason": reason})


def test_one_operator_rolls_back_and_the_next_controls_call_sees_it(
    client, agent, versions, agent_client, operator_user, owner_user, approvers
):
    previous, current, candidate = versions
    plan = _approved_plan(agent, owner_user, approvers)  # a canary in progress is ended too
    url = reverse("telemetry-controls")
    before = agent_client.get(url)
    etag = before["ETag"]
    assert agent_client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304

    client.force_login(operator_user)
    response = _rollback(client, agent)
    assert response.status_code == 302

    after = agent_client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert after.status_code == 200, "the ETag must change with the rollback"
    for version, state in ((previous, VersionState.DEPLOYED), (current, VersionState.ROLLED_BACK)):
        version.refresh_from_db()
        assert version.state == state
    agent.refresh_from_db()
    assert agent.deployed_version == previous
    assert agent.canary_version is None and agent.canary_share_pct == Decimal("0")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.ROLLED_BACK
    incident = Incident.objects.get(agent=agent)
    assert incident.version == current and incident.commander == operator_user
    assert "Answers got worse" in incident.summary
    entry = AuditEntry.objects.get(action="rollout.rollback_version")
    assert entry.actor_id == operator_user.pk and "1.0 to 0.9" in entry.summary
    assert "rolled back from 1.0 to 0.9" in client.get(agent.get_absolute_url()).content.decode()


def test_going_forward_again_needs_the_usual_approvals(agent, versions, operator_user, owner_user, approvers):
    previous, current, _candidate = versions
    rollback_to_previous(agent=agent, actor=operator_user, reason="Regression")
    req = change_request_create(
        agent=agent, kind="go_live", payload={"version": "1.0"}, requester=owner_user, justification="Fixed upstream."
    )
    assert req.policy_snapshot["required_approvals"] >= 1
    decision_record(
        request_id=req.pk, approver=approvers[0], verdict="approve", reason="ok", payload_hash=req.payload_hash
    )
    req.refresh_from_db()
    current.refresh_from_db()
    if req.policy_snapshot["required_approvals"] >= 2:
        assert req.status == RequestStatus.PENDING and current.state == VersionState.ROLLED_BACK
        decision_record(
            request_id=req.pk, approver=approvers[1], verdict="approve", reason="ok", payload_hash=req.payload_hash
        )
        req.refresh_from_db()
        current.refresh_from_db()
    assert current.state == VersionState.ROLLED_BACK  # approved, but the go-live checklist is open
    for item in req.checklist.all():
        checklist_item_tick(request_id=req.pk, key=item.key, evidence="automatic", automatic=True)
    req.refresh_from_db()
    current.refresh_from_db()
    assert req.status == RequestStatus.APPLIED
    assert current.state == VersionState.DEPLOYED
    previous.refresh_from_db()
    assert previous.state == VersionState.SUPERSEDED


def test_a_rollback_is_not_a_side_door_for_the_rolled_back_version(agent, versions, operator_user):
    rollback_to_previous(agent=agent, actor=operator_user, reason="Regression")
    # Rolling back again goes further back, never forward to the rolled-back version.
    with pytest.raises(ValidationError) as exc:
        rollback_to_previous(agent=agent, actor=operator_user, reason="Again")
    assert "no earlier deployed version" in str(exc.value)
    agent.refresh_from_db()
    assert agent.deployed_version.label == "0.9"


@pytest.mark.parametrize("role", ["executive_user", "auditor_user", "approver_user", "owner_user", "outsider_user"])
def test_only_operators_roll_back(client, request, agent, versions, role):
    client.force_login(request.getfixturevalue(role))
    assert _rollback(client, agent).status_code in (403, 404)
    agent.refresh_from_db()
    assert agent.deployed_version.label == "1.0" and not Incident.objects.exists()
    with pytest.raises(PermissionDenied):
        rollback_to_previous(agent=agent, actor=request.getfixturevalue(role), reason="x")


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_reason_is_required_and_without_one_nothing_changes(client, agent, versions, operator_user, reason):
    client.force_login(operator_user)
    revision = agent.controls_revision
    assert _rollback(client, agent, reason=reason).status_code == 302
    agent.refresh_from_db()
    assert agent.deployed_version.label == "1.0" and agent.controls_revision == revision
    assert not Incident.objects.exists()
    assert "Not rolled back" in client.get(agent.get_absolute_url()).content.decode()


def test_without_an_earlier_version_the_operator_is_told_and_nothing_changes(client, agent, versions, operator_user):
    previous, _current, _candidate = versions
    previous.state = VersionState.DRAFT
    previous.deployed_at = None
    previous.save()
    client.force_login(operator_user)
    _rollback(client, agent)
    agent.refresh_from_db()
    assert agent.deployed_version.label == "1.0" and not Incident.objects.exists()
    assert "no earlier deployed version" in client.get(agent.get_absolute_url()).content.decode()


def test_the_canary_is_cleared_even_without_a_plan(agent, versions, operator_user):
    _previous, _current, candidate = versions
    agent_controls_update(agent_id=agent.pk, canary_version=candidate, canary_share_pct=Decimal("5"))
    rollback_to_previous(agent=agent, actor=operator_user, reason="Regression")
    agent.refresh_from_db()
    assert agent.canary_version is None
