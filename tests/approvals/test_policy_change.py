"""Issue 13, item 2: one person changed an approval policy (in the admin) and every later
request needed fewer approvers. An approval-policy change is now a two-person request with no
agent; the admin shows policies read-only, superusers included."""

from __future__ import annotations

import pytest

from approvals.exceptions import DecisionRefused
from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.services import change_request_create, decision_record
from registry import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_superuser_cannot_edit_an_approval_policy_in_the_admin(client):
    policy = ApprovalPolicy.objects.filter(risk_tier=1).first() or ApprovalPolicy.objects.create(
        risk_tier=1, required_approvals=2
    )
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    url = f"/admin/approvals/approvalpolicy/{policy.pk}/change/"
    response = client.post(
        url, {"kind": policy.kind, "risk_tier": 1, "required_approvals": 1, "eligible_roles": '["Approver"]'}
    )
    assert response.status_code == 403
    assert ApprovalPolicy.objects.get(pk=policy.pk).required_approvals == policy.required_approvals
    assert client.get("/admin/approvals/approvalpolicy/add/").status_code == 403


def test_an_approval_policy_change_needs_two_board_members_other_than_the_requester():
    board = [UserFactory(username=f"board-{i}", roles=[roles.GOVERNANCE_BOARD]) for i in range(3)]
    req = change_request_create(
        agent=None,
        kind="approval_policy_change",
        payload={"kind": "", "risk_tier": 3, "required_approvals": 1, "eligible_roles": ["Approver"]},
        requester=board[0],
        justification="Tier 3 needs one approver.",
    )
    assert req.agent is None and req.policy_snapshot["required_approvals"] >= 2

    def approve(user):
        decision_record(request_id=req.pk, approver=user, verdict="approve", reason="ok", payload_hash=req.payload_hash)

    with pytest.raises(DecisionRefused):
        approve(board[0])
    approve(board[1])
    assert not ApprovalPolicy.objects.filter(kind="", risk_tier=3, required_approvals=1, note__contains="#").exists()
    approve(board[2])
    assert ApprovalRequest.objects.get(pk=req.pk).status == "applied"
    assert ApprovalPolicy.objects.get(kind="", risk_tier=3).required_approvals == 1


def test_a_tool_tier_is_lowered_through_the_api_only_by_two_other_people():
    from rest_framework.test import APIClient

    from registry.models import Tool
    from tests.factories import ToolFactory

    tool = ToolFactory(name="payments.refund", action_tier=3)
    board = [UserFactory(username=f"tier-board-{i}", roles=[roles.GOVERNANCE_BOARD]) for i in range(3)]
    api = APIClient()
    api.force_authenticate(board[0])
    missing = api.post(
        "/api/v1/change-requests/", {"kind": "tier_change", "payload": {}, "justification": "x"}, format="json"
    )
    assert missing.status_code == 400 and "agent" in missing.content.decode()
    created = api.post(
        "/api/v1/change-requests/",
        {"kind": "tool_tier_change", "payload": {"tool": tool.name, "action_tier": 0}, "justification": "Read-only."},
        format="json",
    )
    assert created.status_code == 201, created.content
    req = ApprovalRequest.objects.get(pk=created.json()["id"])
    assert req.agent is None and req.policy_snapshot["required_approvals"] >= 2
    for user in board[1:]:
        assert Tool.objects.get(pk=tool.pk).action_tier == 3
        decision_record(request_id=req.pk, approver=user, verdict="approve", reason="ok", payload_hash=req.payload_hash)
    assert Tool.objects.get(pk=tool.pk).action_tier == 0
