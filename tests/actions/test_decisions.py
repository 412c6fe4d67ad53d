"""Pending actions are decided by people through the approvals engine; expiry closes them."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from actions.models import ActionRequest
from approvals import services as engine
from approvals.exceptions import DecisionRefused
from approvals.kinds import kind_get
from approvals.models import ApprovalRequest
from approvals.selectors import requests_awaiting

from .conftest import refund


def _pending(agent_client, key="p", amount=120):
    body = refund(agent_client, key=key, amount_usd=amount, customer_tier="standard", card_number="4111111111111111")
    body = body.json()
    assert body["status"] == "pending"
    return body, ApprovalRequest.objects.get(action_request__pk=body["id"])


def _approve(req, user, verdict="approve", reason="Checked the order."):
    return engine.decision_record(
        request_id=req.pk, approver=user, verdict=verdict, reason=reason, payload_hash=req.payload_hash
    )


@pytest.mark.django_db
def test_it_shows_in_the_support_managers_queue_with_tool_parameters_and_rule(
    agent_client, refund_policy, support_managers, approver_user
):
    _body, req = _pending(agent_client)
    assert [r.pk for r in requests_awaiting(support_managers[0])] == [req.pk]
    assert requests_awaiting(approver_user) == []  # the rule names the support managers only
    rows = {row.label: row.proposed for row in kind_get(req.kind).diff(req)}
    assert rows["Tool"] == "payments.refund"
    assert rows["Rule that asked for approval"] == 'require 2 approvals from "Support manager" if amount_usd > 50'
    assert rows["Parameter: card_number"] == "[redacted]"
    assert rows["Parameter: amount_usd"] == "120"
    assert req.requester is None
    assert "payments.refund" in req.justification


@pytest.mark.django_db
def test_two_support_managers_approve_and_the_poll_says_approved(agent_client, refund_policy, support_managers):
    body, req = _pending(agent_client)
    _approve(req, support_managers[0])
    assert agent_client.get(f"/api/v1/action-requests/{body['id']}/").json()["status"] == "pending"
    with pytest.raises(DecisionRefused):
        _approve(req, support_managers[0])  # the same person twice does not count twice
    _approve(req, support_managers[1])
    poll = agent_client.get(f"/api/v1/action-requests/{body['id']}/").json()
    assert poll["status"] == "approved"
    assert poll["decision"]["source"] == "people"
    assert poll["decision"]["rule"]["number"] == 4  # the rule that asked stays on record
    assert poll["decision"]["policy_version"] == refund_policy.number
    assert poll["approval"]["approvals"] == 2
    req.refresh_from_db()
    assert req.status == "applied"


@pytest.mark.django_db
def test_one_denial_ends_it_with_the_approvers_reason(agent_client, refund_policy, support_managers):
    body, req = _pending(agent_client)
    _approve(req, support_managers[0], verdict="deny", reason="Order was never shipped; escalate.")
    poll = agent_client.get(f"/api/v1/action-requests/{body['id']}/").json()
    assert poll["status"] == "denied"
    assert poll["decision"]["source"] == "people"
    assert "Order was never shipped" in poll["decision"]["reason"]


@pytest.mark.django_db
def test_people_outside_the_named_role_cannot_decide(agent_client, refund_policy, support_managers, approver_user):
    _body, req = _pending(agent_client)
    with pytest.raises(DecisionRefused) as exc:
        _approve(req, approver_user)
    assert exc.value.code == "not_eligible"


@pytest.mark.django_db
def test_a_kill_switch_pulled_while_pending_blocks_the_approval(
    agent, agent_client, refund_policy, support_managers, operator_user
):
    from registry.services import agent_controls_update

    body, req = _pending(agent_client)
    agent_controls_update(agent_id=agent.pk, actor=operator_user, side_effects_enabled=False)
    _approve(req, support_managers[0])
    _approve(req, support_managers[1])
    poll = agent_client.get(f"/api/v1/action-requests/{body['id']}/").json()
    assert poll["status"] == "pending"
    assert "disabled" in poll["approval"]["blocked_reason"]


# --- expiry --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_undecided_request_expires_and_the_poll_says_so(agent_client, refund_policy, support_managers):
    body, req = _pending(agent_client)
    assert timedelta(minutes=14) < (req.expires_at - timezone.now()) <= timedelta(minutes=15)
    later = req.expires_at + timedelta(seconds=1)
    ApprovalRequest.objects.filter(pk=req.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    ActionRequest.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    # Before the expiry task ran: already expired for the agent, and no approval can count.
    poll = agent_client.get(f"/api/v1/action-requests/{body['id']}/").json()
    assert (poll["status"], poll["decision"]["source"]) == ("expired", "expiry")
    with pytest.raises(DecisionRefused) as exc:
        _approve(req, support_managers[0])
    assert exc.value.code == "expired"
    assert engine.requests_expire(now=later) == 1
    stored = ActionRequest.objects.get(pk=body["id"])
    assert (stored.status, stored.source) == ("expired", "expiry")
    assert agent_client.get(f"/api/v1/action-requests/{body['id']}/").json()["status"] == "expired"


@pytest.mark.django_db(transaction=True)
def test_an_approval_racing_the_expiry_gives_one_outcome(gate_reseeded, agent, agent_key, support_managers):
    """GIVEN a pending action with one approval, WHEN the second approval and the expiry task
    run at the same instant on two connections (five times over), THEN each request ends either
    applied-and-approved or expired — never both, and the agent's poll agrees with the row."""
    from rest_framework.test import APIClient

    from actions.demo import REFUND_POLICY
    from actions.services import policy_version_create
    from tests.factories import ToolFactory

    from .conftest import grant_deployed

    tool = ToolFactory(name="payments.refund", action_tier=3)
    grant_deployed(agent, tool)
    policy_version_create(tool=tool, **REFUND_POLICY)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
    outcomes = []
    for i in range(5):
        body, req = _pending(client, key=f"race-{i}")
        _approve(req, support_managers[0])
        deadline = timezone.now() + timedelta(milliseconds=300)
        ApprovalRequest.objects.filter(pk=req.pk).update(expires_at=deadline)
        ActionRequest.objects.filter(pk=body["id"]).update(expires_at=deadline)
        barrier = threading.Barrier(2)
        errors = []

        def approve(req=req, barrier=barrier, errors=errors):
            try:
                barrier.wait(10)
                _approve(req, support_managers[1])
            except DecisionRefused:
                pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                connection.close()

        def expire(barrier=barrier, errors=errors, deadline=deadline):
            try:
                barrier.wait(10)
                engine.requests_expire(now=deadline)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=approve), threading.Thread(target=expire)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        req.refresh_from_db()
        action = ActionRequest.objects.get(pk=body["id"])
        poll = client.get(f"/api/v1/action-requests/{body['id']}/").json()["status"]
        assert (req.status, action.status) in {("applied", "approved"), ("expired", "expired")}
        if action.status == "approved":
            assert req.decisions.count() == 2
            assert poll == "approved"
        else:
            assert req.decisions.count() == 1
            assert poll == "expired"
        outcomes.append(action.status)
    assert set(outcomes) <= {"approved", "expired"}


@pytest.mark.django_db
def test_the_approvals_pages_and_emails_handle_a_request_without_a_person_behind_it(
    client, agent_client, refund_policy, support_managers, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        _body, req = _pending(agent_client)
    assert sorted(m.to[0] for m in mailoutbox) == ["support1@example.com", "support2@example.com"]
    assert mailoutbox[0].body.startswith("An agent asks")
    client.force_login(support_managers[0])
    queue = client.get("/approvals/").content.decode()
    assert f"request-row-{req.pk}" in queue and "Runtime action" in queue
    page = client.get(req.get_absolute_url()).content.decode()
    assert "Requested by the agent" in page and "payments.refund" in page
