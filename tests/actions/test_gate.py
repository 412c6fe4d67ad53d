"""The gate around the rules: kill switch, isolation, redaction, tier defaults, controls."""

from __future__ import annotations

import json

import pytest
from auditlog.models import LogEntry
from django.db import connection
from rest_framework.test import APIClient

from actions.models import ActionRequest
from approvals.models import ApprovalRequest
from registry.services import agent_controls_update, global_controls_set
from tests.factories import ToolFactory

from .conftest import grant_deployed, refund

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"
BANK = "DE89 3704 0044 0532 0130 00"


# --- kill switch -------------------------------------------------------------------------------


def test_the_agent_kill_switch_turns_an_allowed_action_into_a_denial_on_the_next_request(
    agent, agent_client, refund_policy, operator_user
):
    before = refund(agent_client, key="a", amount_usd=20, customer_tier="pro").json()
    agent_controls_update(agent_id=agent.pk, actor=operator_user, side_effects_enabled=False)
    after = refund(agent_client, key="b", amount_usd=20, customer_tier="pro").json()
    assert before["status"] == "allowed"
    assert after["status"] == "denied"
    assert after["decision"] == {
        "source": "kill_switch",
        "policy_version": refund_policy.number,
        "rule": None,
        "reason": "side effects disabled",
    }


def test_the_global_kill_switch_denies_too_but_spares_side_effect_free_tools(
    agent, agent_client, refund_policy, operator_user
):
    grant_deployed(agent, ToolFactory(name="kb.search", action_tier=0))
    global_controls_set(side_effects_enabled=False, actor=operator_user, reason="incident")
    denied = refund(agent_client, key="a", amount_usd=20, customer_tier="pro").json()
    read = agent_client.post(
        "/api/v1/action-requests/",
        {"tool": "kb.search", "idempotency_key": "r", "parameters": {"q": "x"}},
        format="json",
    ).json()
    assert (denied["status"], denied["decision"]["reason"]) == ("denied", "side effects disabled")
    assert read["status"] == "allowed"


def test_policy_blocks_are_counted_per_agent(agent, agent_client, other_agent_client, refund_policy, operator_user):
    from django.utils import timezone

    from actions.selectors import policy_blocks_by_agent

    start = timezone.now()
    refund(agent_client, key="a", amount_usd=-1, customer_tier="pro")  # deny rule
    refund(agent_client, key="b", amount_usd=20, customer_tier="pro")  # allowed
    refund(other_agent_client, key="c", amount_usd=-5, customer_tier="pro")
    agent_controls_update(agent_id=agent.pk, actor=operator_user, side_effects_enabled=False)
    refund(agent_client, key="d", amount_usd=20, customer_tier="pro")  # kill switch
    blocks = policy_blocks_by_agent(start, timezone.now() + timezone.timedelta(seconds=1))
    assert blocks == {agent.pk: 2, other_agent_client.agent.pk: 1}
    assert policy_blocks_by_agent(start - timezone.timedelta(days=2), start) == {}


# --- isolation ---------------------------------------------------------------------------------


def test_an_agent_cannot_read_another_agents_request(agent_client, other_agent_client, refund_policy):
    mine = refund(agent_client, key="a", amount_usd=120, customer_tier="pro").json()
    assert agent_client.get(f"/api/v1/action-requests/{mine['id']}/").status_code == 200
    response = other_agent_client.get(f"/api/v1/action-requests/{mine['id']}/")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    assert other_agent_client.get("/api/v1/action-requests/").json() == {"count": 0, "results": []}
    assert agent_client.get("/api/v1/action-requests/?status=pending").json()["count"] == 1


def test_an_agent_cannot_create_for_another_agent(agent_client, other_agent_client, refund_policy):
    body = {
        "tool": "payments.refund",
        "agent": other_agent_client.agent.slug,
        "idempotency_key": "x",
        "parameters": {"amount_usd": 1, "customer_tier": "pro"},
    }
    response = agent_client.post("/api/v1/action-requests/", body, format="json")
    assert response.status_code == 403
    assert ActionRequest.objects.count() == 0


def test_people_and_unauthenticated_callers_are_refused(client, board_user, refund_policy):
    body = {"tool": "payments.refund", "idempotency_key": "x", "parameters": {"amount_usd": 1, "customer_tier": "pro"}}
    assert APIClient().post("/api/v1/action-requests/", body, format="json").status_code == 401
    client.force_login(board_user)
    assert client.post("/api/v1/action-requests/", body, content_type="application/json").status_code == 401
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer nope.nope")
    assert bad.get("/api/v1/action-requests/").status_code == 401
    assert ActionRequest.objects.count() == 0


def test_a_malformed_id_is_a_404(agent_client):
    assert agent_client.get("/api/v1/action-requests/not-a-uuid/").status_code == 404


# --- redaction ---------------------------------------------------------------------------------


def _raw_row(pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(r)::text FROM actions_actionrequest r WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_redacted_fields_never_reach_the_database(agent_client, refund_policy):
    response = refund(
        agent_client,
        key="r",
        amount_usd=120,
        customer_tier="standard",
        card_number=CARD,
        bank_account=BANK,
        reason=f"customer paid twice with card {CARD.replace(' ', '')}",
    )
    body = response.json()
    assert body["parameters"]["card_number"] == "[redacted]"
    assert body["parameters"]["bank_account"] == "[redacted]"
    row = _raw_row(body["id"])
    stored = ActionRequest.objects.get(pk=body["id"]).parameters
    assert stored["card_number"] == stored["bank_account"] == "[redacted]"
    assert stored["amount_usd"] == 120
    approval = ApprovalRequest.objects.get()
    logs = " ".join(json.dumps(e.changes) for e in LogEntry.objects.all())
    for secret in (CARD, CARD.replace(" ", ""), BANK):
        assert secret not in row
        assert secret not in json.dumps(approval.payload)
        assert secret not in logs
    assert "1111" in stored["reason"]  # the last four digits stay, for the humans reading it


# --- defaults by action tier --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "status", "required"), [(0, "allowed", None), (1, "pending", 1), (2, "allowed", None), (3, "pending", 2)]
)
def test_with_no_policy_the_tier_default_decides(agent, agent_client, tier, status, required):
    grant_deployed(agent, ToolFactory(name=f"demo.tier{tier}", action_tier=tier))
    body = agent_client.post(
        "/api/v1/action-requests/",
        {"tool": f"demo.tier{tier}", "idempotency_key": "t", "parameters": {"anything": 1}},
        format="json",
    ).json()
    assert body["status"] == status
    assert body["decision"]["source"] == "tier_default"
    assert body["decision"]["policy_version"] is None
    if required:
        assert body["approval"]["required_approvals"] == required
        assert set(body["approval"]["roles"]) == {"Approver", "Governance board"}


def test_a_tier_four_action_needs_a_linked_change_request(agent, agent_client, owner_user):
    from approvals.services import change_request_create

    grant_deployed(agent, ToolFactory(name="k8s.rollout_restart", action_tier=4))
    post = lambda **extra: agent_client.post(  # noqa: E731
        "/api/v1/action-requests/",
        {"tool": "k8s.rollout_restart", "idempotency_key": "k", "parameters": {"deployment": "web"}, **extra},
        format="json",
    )
    refused = post()
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "change_request_id"
    assert post(change_request_id=999999).json()["errors"][0]["code"] == "not_found"
    assert ActionRequest.objects.count() == 0
    change = change_request_create(
        agent=agent, kind="tier_change", payload={"risk_tier": 3}, requester=owner_user, justification="Lower risk."
    )
    body = post(change_request_id=change.pk).json()
    assert body["status"] == "pending"
    assert body["change_request_id"] == change.pk
    assert ApprovalRequest.objects.get(kind="runtime_action").payload["change_request"] == change.pk


# --- controls ----------------------------------------------------------------------------------


def test_the_controls_show_the_policy_version_and_its_edit_changes_the_etag(
    agent, agent_client, refund_policy, board_user
):
    from actions.demo import REFUND_POLICY
    from actions.services import policy_version_create

    # refund_policy already deployed a version holding payments.refund (the gate needs the grant).
    first = agent_client.get("/api/v1/controls/")
    assert first.json()["action_policy_versions"] == {"payments.refund": 1}
    policy_version_create(tool=refund_policy.tool, actor=board_user, **{**REFUND_POLICY, "note": "v2"})
    second = agent_client.get("/api/v1/controls/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 200
    assert second.json()["action_policy_versions"] == {"payments.refund": 2}
