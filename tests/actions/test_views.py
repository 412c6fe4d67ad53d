"""Console pages: who may read and edit policies, the policy editor, action pages, webhook form."""

from __future__ import annotations

import base64

import pytest

from actions.models import ActionPolicyVersion, AgentGateSettings

from .conftest import refund


def _approve_twice(response):
    """Two approvers (neither the requester) approve the change request ``response`` redirected to."""
    from approvals.models import ApprovalRequest
    from approvals.services import decision_record
    from tests.factories import UserFactory

    req = ApprovalRequest.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    for name in ("policy-approver-1", "policy-approver-2"):
        approver = UserFactory(username=name, roles=["Governance board"])
        decision_record(
            request_id=req.pk, approver=approver, verdict="approve", reason="ok", payload_hash=req.payload_hash
        )


pytestmark = pytest.mark.django_db


def test_anonymous_goes_to_login(client, refund_policy):
    response = client.get("/actions/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_every_reading_role_sees_policies_and_requests(client, auditor_user, agent_client, refund_policy):
    refund(agent_client, key="a", amount_usd=120, customer_tier="pro")
    client.force_login(auditor_user)
    page = client.get("/actions/")
    assert page.status_code == 200
    assert b"payments.refund" in page.content and b"Pending" in page.content
    detail = client.get("/actions/policies/payments.refund/")
    assert detail.status_code == 200
    assert b"Support manager" in detail.content
    assert b"policy-edit" not in detail.content


def test_an_outsider_is_refused(client, outsider_user, refund_policy):
    client.force_login(outsider_user)
    assert client.get("/actions/").status_code == 403
    assert client.get("/actions/policies/payments.refund/").status_code == 403


def test_only_the_board_edits_and_a_refused_edit_changes_nothing(client, approver_user, refund_policy):
    client.force_login(approver_user)
    assert client.get("/actions/policies/payments.refund/edit/").status_code == 403
    response = client.post("/actions/policies/payments.refund/edit/", {"fields_source": "a: decimal", "note": "x"})
    assert response.status_code == 403
    assert ActionPolicyVersion.objects.count() == 1


def test_the_board_saves_a_new_version_from_the_console(client, board_user, refund_policy):
    client.force_login(board_user)
    form = client.get("/actions/policies/payments.refund/edit/")
    assert form.status_code == 200
    assert "customer_tier: enum(standard, pro, enterprise)" in form.content.decode()
    data = {
        "fields_source": refund_policy.fields_source,
        "rules_source": 'deny "Too large" if amount_usd > 5000\n' + refund_policy.rules_source,
        "redact_fields": "card_number, bank_account",
        "retention_days": 180,
        "note": "Cap at 5000",
    }
    response = client.post("/actions/policies/payments.refund/edit/", data)
    assert response.status_code == 302
    # Issue 13: the save proposes the version; two approvers other than the requester put it in force.
    _approve_twice(response)
    v2 = ActionPolicyVersion.objects.get(number=2)
    assert (v2.retention_days, v2.redact_fields, v2.created_by) == (180, ["card_number", "bank_account"], board_user)
    assert v2.rules[0]["reason"] == "Too large"


def test_a_bad_policy_in_the_console_is_shown_with_its_position_and_kept(client, board_user, refund_policy):
    client.force_login(board_user)
    data = {
        "fields_source": refund_policy.fields_source,
        "rules_source": "allow if amont_usd <= 5",
        "redact_fields": "",
        "retention_days": 365,
        "note": "typo",
    }
    response = client.post("/actions/policies/payments.refund/edit/", data)
    assert response.status_code == 400
    text = response.content.decode()
    assert "line 1, column 10: unknown field &#x27;amont_usd&#x27;" in text
    assert "allow if amont_usd &lt;= 5" in text  # what was typed is not lost
    assert ActionPolicyVersion.objects.count() == 1


def test_the_admin_cannot_save_an_edit_as_a_new_version(admin_client, refund_policy):
    url = f"/admin/actions/actionpolicyversion/{refund_policy.pk}/change/"
    assert admin_client.get(url).status_code == 200
    data = {
        "tool": refund_policy.tool_id,
        "fields_source": refund_policy.fields_source,
        "rules_source": "allow if amount_usd <= 10",
        "redact_fields": "card_number",
        "retention_days": 30,
        "note": "admin edit",
    }
    # Issue 13: the admin shows policy versions read-only, superusers included; a new version is
    # a two-person action-policy change request.
    response = admin_client.post(url, data)
    assert response.status_code == 403
    assert admin_client.get("/admin/actions/actionpolicyversion/add/").status_code == 403
    assert list(ActionPolicyVersion.objects.order_by("number").values_list("number", "retention_days")) == [(1, 365)]


def test_a_request_page_hides_other_teams_agents(client, agent_client, refund_policy, other_owner_user):
    from registry.models import Agent

    body = refund(agent_client, key="a", amount_usd=120, customer_tier="pro").json()
    client.force_login(other_owner_user)
    # Agent owners read the registry (view_agent), so they see it; a user without it gets a 404.
    assert client.get(f"/actions/requests/{body['id']}/").status_code == 200
    from tests.factories import UserFactory

    nobody = UserFactory(username="nobody")
    client.force_login(nobody)
    assert client.get(f"/actions/requests/{body['id']}/").status_code == 404
    assert Agent.objects.count() == 1


def test_the_agent_card_shows_actions_and_the_owner_sets_a_webhook(
    client, agent, owner_user, agent_client, refund_policy
):
    refund(agent_client, key="a", amount_usd=-1, customer_tier="pro")
    client.force_login(owner_user)
    card = client.get(agent.get_absolute_url())
    assert b'data-testid="agent-actions"' in card.content
    assert b"(1 by policy)" in card.content
    bad = client.post(f"/actions/agents/{agent.slug}/webhook/", {"webhook_url": "ftp://x"})
    assert bad.status_code == 400
    assert not AgentGateSettings.objects.exists()
    ok = client.post(f"/actions/agents/{agent.slug}/webhook/", {"webhook_url": "https://hooks.example.com/q"})
    assert ok.status_code == 302
    gate = AgentGateSettings.objects.get()
    assert gate.webhook_url == "https://hooks.example.com/q"
    # A Standard Webhooks secret: whsec_ and 32 random bytes in base64, shown on the card.
    assert gate.webhook_secret.startswith("whsec_")
    assert len(base64.b64decode(gate.webhook_secret.removeprefix("whsec_"))) == 32
    assert gate.webhook_secret.encode() in client.get(agent.get_absolute_url()).content


def test_people_who_cannot_edit_the_agent_cannot_set_its_webhook(client, agent, auditor_user):
    client.force_login(auditor_user)
    response = client.post(f"/actions/agents/{agent.slug}/webhook/", {"webhook_url": "https://evil.example.com/"})
    assert response.status_code == 403
    assert not AgentGateSettings.objects.exists()


def test_the_seeded_demo_is_idempotent(db):
    from io import StringIO

    from django.core.management import call_command

    from actions.models import ActionRequest

    call_command("seed_demo", stdout=StringIO())
    counts = (ActionPolicyVersion.objects.count(), ActionRequest.objects.count())
    call_command("seed_demo", stdout=StringIO())
    assert (ActionPolicyVersion.objects.count(), ActionRequest.objects.count()) == counts
    assert counts[0] >= 1
    statuses = set(ActionRequest.objects.values_list("status", flat=True))
    assert {"allowed", "pending", "denied"} <= statuses
    refund_policy = ActionPolicyVersion.objects.get(tool__name="payments.refund")
    assert refund_policy.redact_fields == ["card_number", "bank_account"]
    assert refund_policy.retention_days == 365
    from django.contrib.auth.models import Group

    assert sorted(Group.objects.get(name="Support manager").user_set.values_list("username", flat=True)) == [
        "support1",
        "support2",
    ]
    # Issue 18, item 6: the demo's gate decisions reach the portfolio (the refused negative refund is
    # a near miss on a tier-3 tool; the pending refund counts as approval-required).
    from django.contrib.auth import get_user_model
    from django.test import Client

    board = Client()
    board.force_login(get_user_model().objects.get(username="board"))
    page = board.get("/reports/").text
    assert 'data-testid="table-near-misses"' in page
    assert "A refund amount must be positive." in page
    assert "approval queue now: 1 waiting" in page
