"""The learning gate: an overdue postmortem action item blocks applying a new-version (or go-live)
request for that agent; completing (or re-planning) the item unblocks it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from incidents import services
from incidents.gates import learning_gate
from registry import roles
from tests.factories import AgentFactory, AgentVersionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def overdue_item(agent, operator_user, open_incident):
    incident = open_incident(severity="sev2", commander=operator_user)
    services.incident_transition(incident_id=incident.pk, to_status="resolved", note="fixed", actor=operator_user)
    return services.action_item_add(
        incident_id=incident.pk,
        title="Add a refund idempotency key",
        owner=operator_user,
        due_on=timezone.localdate() - timedelta(days=2),
        actor=operator_user,
    )


@pytest.fixture
def approvers(db):
    users = [UserFactory(username=f"gate-approver{i}", roles=[roles.APPROVER]) for i in (1, 2)]
    for user in users:
        assign_perm("registry.approve_agent", user)
    return users


@pytest.fixture
def only_our_gate():
    # The evals gate (a passing eval run) would also hold the request; this test is about ours.
    from approvals.extensions import apply_gates
    from incidents.gates import learning_gate

    with apply_gates.override(learning_gate):
        yield


def _approved_new_version_request(agent, owner_user, approvers):
    from approvals.services import decision_record, request_create

    version = AgentVersionFactory(agent=agent, label="9.0")
    req = request_create(
        agent=agent,
        kind="new_version",
        payload={"version": version.label},
        requester=owner_user,
        justification="Better refunds",
        policy={"checklist": []},
    )
    for approver in approvers:
        decision_record(
            request_id=req.pk, approver=approver, verdict="approve", reason="ok", payload_hash=req.payload_hash
        )
    req.refresh_from_db()
    return req, version


def test_an_overdue_item_blocks_a_new_version_and_completing_it_unblocks(
    client, agent, owner_user, approvers, overdue_item, operator_user, only_our_gate
):
    """GIVEN an overdue action item on the agent WHEN two approvers approve a new-version request
    THEN it is approved but not applied, and the request page says why; WHEN the item is done
    THEN applying succeeds and the version is approved."""
    from approvals.services import request_apply

    req, version = _approved_new_version_request(agent, owner_user, approvers)
    assert req.status == "approved"
    assert "overdue postmortem action item" in req.blocked_reason
    assert "Add a refund idempotency key" in req.blocked_reason
    version.refresh_from_db()
    assert version.state != "approved"

    client.force_login(owner_user)
    page = client.get(reverse("approvals:request_detail", args=[req.pk])).content.decode()
    assert "overdue postmortem action item" in page

    services.action_item_update(item_id=overdue_item.pk, state="done", actor=operator_user)
    req = request_apply(request_id=req.pk, actor=owner_user)
    assert req.status == "applied"
    version.refresh_from_db()
    assert version.state == "approved"


def test_re_planning_the_item_also_unblocks(agent, owner_user, approvers, overdue_item, only_our_gate):
    from approvals.services import request_apply

    req, _ = _approved_new_version_request(agent, owner_user, approvers)
    assert req.status == "approved" and req.blocked_reason
    services.action_item_update(item_id=overdue_item.pk, due_on=timezone.localdate() + timedelta(days=7))
    assert request_apply(request_id=req.pk, actor=owner_user).status == "applied"


class _Req:
    def __init__(self, kind, agent):
        self.kind, self.agent = kind, agent


def test_the_gate_only_concerns_go_live_and_new_version_of_that_agent(agent, overdue_item):
    assert "overdue" in learning_gate(_Req("go_live", agent))
    assert "overdue" in learning_gate(_Req("new_version", agent))
    assert learning_gate(_Req("reenable_side_effects", agent)) is None
    assert learning_gate(_Req("tool_grant", agent)) is None
    assert learning_gate(_Req("new_version", AgentFactory(slug="elsewhere"))) is None


def test_an_item_due_today_or_cancelled_does_not_block(agent, overdue_item):
    services.action_item_update(item_id=overdue_item.pk, due_on=timezone.localdate())
    assert learning_gate(_Req("new_version", agent)) is None
    services.action_item_update(item_id=overdue_item.pk, due_on=timezone.localdate() - timedelta(days=1))
    assert learning_gate(_Req("new_version", agent)) is not None
    services.action_item_update(item_id=overdue_item.pk, state="cancelled")
    assert learning_gate(_Req("new_version", agent)) is None
