"""Every audit source lands on the chain (issue 15, item 1): model changes (auditlog), rights,
logins and failed logins, decisions with every field of the row, gate decisions, kill-switch
pulls and re-enables, break-glass."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from guardian.shortcuts import assign_perm

from approvals.break_glass import break_glass_apply
from approvals.models import Decision
from approvals.services import change_request_create, decision_record
from incidents.services import kill_switch_pull
from registry.audit_chain import chain_verify
from registry.models import AuditEntry
from registry.services import agent_controls_update
from tests.actions.conftest import grant_deployed
from tests.factories import ToolFactory, UserFactory

pytestmark = pytest.mark.django_db


def _last(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).latest("seq")


def test_a_model_change_recorded_by_auditlog_is_chained_under_its_agent(agent, board_user):
    agent_controls_update(agent_id=agent.pk, actor=board_user, canary_share_pct=10)
    entry = AuditEntry.objects.filter(object_type="registry.agent", object_id=str(agent.pk), action="update").latest(
        "seq"
    )
    assert entry.agent_id == agent.pk
    assert (entry.actor_kind, entry.actor_id) == ("person", board_user.pk)
    assert "canary_share_pct" in entry.payload["changes"]
    assert chain_verify().ok


def test_an_object_permission_grant_is_chained_as_a_permission_change(agent, operator_user):
    assign_perm("registry.operate_agent", operator_user, agent)
    entry = _last("permission.grant")
    assert entry.object_type == "guardian.userobjectpermission"


def test_logins_and_failed_logins_are_chained_without_the_password(client, owner_user):
    assert client.login(username=owner_user.username, password="pw")
    assert _last("login").actor_id == owner_user.pk
    authenticate(request=None, username=owner_user.username, password="not-the-password")
    failed = _last("login.failed")
    assert failed.payload["username"] == owner_user.username
    assert "not-the-password" not in str(failed.payload) + failed.summary


def test_a_decision_is_chained_with_every_field_of_the_row_and_only_once(agent, owner_user, approver_user):
    request = change_request_create(
        agent=agent, kind="tier_change", payload={"risk_tier": 3}, requester=owner_user, justification="Lower risk."
    )
    decision = decision_record(
        request_id=request.pk,
        approver=approver_user,
        verdict="approve",
        reason="checked",
        payload_hash=request.payload_hash,
    )
    entry = _last("decision.approve")
    assert entry.agent_id == agent.pk and entry.actor_id == approver_user.pk
    assert set(entry.payload) == {field.attname for field in Decision._meta.concrete_fields}
    assert entry.payload["reason"] == "checked" and entry.payload["request_id"] == request.pk
    assert not AuditEntry.objects.filter(object_type="approvals.decision", object_id=str(decision.pk), action="create")


def test_gate_decisions_are_chained_as_the_agent(agent, agent_client):
    grant_deployed(agent, ToolFactory(name="demo.tier0", action_tier=0))
    response = agent_client.post(
        "/api/v1/action-requests/",
        {"tool": "demo.tier0", "idempotency_key": "k1", "parameters": {"n": 1}},
        format="json",
    )
    assert response.status_code == 201, response.content
    entry = _last("gate.allow")
    assert (entry.actor_kind, entry.actor_id, entry.agent_id) == ("agent", agent.pk, agent.pk)
    assert entry.payload["tool"] == "demo.tier0" and entry.payload["source"] == "tier_default"


def test_kill_switch_pull_and_reenable_are_chained_with_the_reason(agent, operator_user, board_user):
    assign_perm("registry.operate_agent", operator_user, agent)
    kill_switch_pull(agent=agent, actor=operator_user, reason="refund loop")
    pulled = _last("killswitch.pull")
    assert pulled.agent_id == agent.pk and pulled.payload["reason"] == "refund loop"
    agent_controls_update(agent_id=agent.pk, actor=board_user, side_effects_enabled=True)
    assert _last("killswitch.reenable").actor_id == board_user.pk


def test_break_glass_is_chained_with_the_reason(agent, owner_user):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    request = change_request_create(
        agent=agent, kind="tier_change", payload={"risk_tier": 3}, requester=owner_user, justification="Lower risk."
    )
    break_glass_apply(request_id=request.pk, actor=root, reason="Outage.")
    entry = _last("break_glass")
    assert (entry.actor_id, entry.agent_id, entry.object_id) == (root.pk, agent.pk, str(request.pk))
    assert entry.payload["reason"] == "Outage."
    assert chain_verify().ok
