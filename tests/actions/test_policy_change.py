"""Issue 13, item 2: one governance-board member rewrote the payments.refund policy and a
5,000 USD refund was then allowed with no approver. A new policy version now takes effect only
through a two-person change request; until it is applied the version in force decides, and the
request page shows the rule-text diff and which sample actions change decision."""

from __future__ import annotations

import html

import pytest

from actions.models import ActionPolicyVersion
from actions.services import policy_current
from approvals.exceptions import DecisionRefused
from approvals.models import ApprovalRequest
from approvals.services import decision_record
from tests.factories import UserFactory

from .conftest import refund

pytestmark = pytest.mark.django_db

REWRITE = "allow if amount_usd > 0"


def _propose(client, board_user, refund_policy):
    client.force_login(board_user)
    data = {
        "fields_source": refund_policy.fields_source,
        "rules_source": REWRITE,
        "redact_fields": "card_number, bank_account",
        "retention_days": 365,
        "note": "Let every refund through.",
    }
    return client.post("/actions/policies/payments.refund/edit/", data)


def test_one_board_member_cannot_rewrite_the_refund_policy(client, agent_client, board_user, refund_policy):
    response = _propose(client, board_user, refund_policy)
    assert response.status_code == 302
    req = ApprovalRequest.objects.get(kind="action_policy_change")
    assert req.agent is None and req.policy_snapshot["required_approvals"] >= 2
    assert policy_current(tool=refund_policy.tool).number == 1  # the version in force stays in force
    assert refund(agent_client, key="big", amount_usd=5000, customer_tier="pro").json()["status"] != "allowed"


def test_the_request_page_shows_the_rule_diff_and_the_sample_actions_that_change_decision(
    client, board_user, refund_policy
):
    _propose(client, board_user, refund_policy)
    req = ApprovalRequest.objects.get(kind="action_policy_change")
    page = html.unescape(client.get(req.get_absolute_url()).content.decode())
    assert "Rule added" in page and REWRITE in page and "Rule removed" in page
    assert "Sample action: amount_usd=5000" in page and "allow" in page


def test_the_policy_takes_effect_once_two_others_approve_never_the_requester(
    client, agent_client, board_user, refund_policy
):
    _propose(client, board_user, refund_policy)
    req = ApprovalRequest.objects.get(kind="action_policy_change")
    with pytest.raises(DecisionRefused):
        decision_record(
            request_id=req.pk, approver=board_user, verdict="approve", reason="mine", payload_hash=req.payload_hash
        )
    first = UserFactory(username="board-a", roles=["Governance board"])
    decision_record(request_id=req.pk, approver=first, verdict="approve", reason="ok", payload_hash=req.payload_hash)
    assert ActionPolicyVersion.objects.count() == 1
    second = UserFactory(username="board-b", roles=["Governance board"])
    decision_record(request_id=req.pk, approver=second, verdict="approve", reason="ok", payload_hash=req.payload_hash)
    current = policy_current(tool=refund_policy.tool)
    assert current.number == 2 and current.rules_source == REWRITE and current.created_by == board_user
    assert refund(agent_client, key="big", amount_usd=5000, customer_tier="pro").json()["status"] == "allowed"


def test_a_second_change_proposed_over_the_same_version_is_blocked_once_the_first_applies(
    client, board_user, refund_policy
):
    """Two changes proposed over v1: the first applies (v2); the second is approved too but must not
    silently replace v2 with rules written against v1. (Sequential: the concurrent case is ordered by
    the tool row lock in ``tool_locked_for_apply``.)"""
    _propose(client, board_user, refund_policy)
    client.post(
        "/actions/policies/payments.refund/edit/",
        {
            "fields_source": refund_policy.fields_source,
            "rules_source": "allow if amount_usd < 10",
            "redact_fields": "card_number, bank_account",
            "retention_days": 365,
            "note": "Only small refunds on their own.",
        },
    )
    first_req, second_req = ApprovalRequest.objects.filter(kind="action_policy_change").order_by("pk")
    approvers = [UserFactory(username=f"board-{n}", roles=["Governance board"]) for n in "ab"]
    for req in (first_req, second_req):
        for approver in approvers:
            decision_record(
                request_id=req.pk, approver=approver, verdict="approve", reason="ok", payload_hash=req.payload_hash
            )
    current = policy_current(tool=refund_policy.tool)
    assert current.number == 2 and current.rules_source == REWRITE
    second_req.refresh_from_db()
    assert "changed meanwhile" in second_req.blocked_reason
