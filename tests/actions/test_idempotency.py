"""Idempotency on (agent, idempotency_key): replays, conflicts, and two posts at the same instant."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from actions import services
from actions.models import ActionRequest
from approvals.models import ApprovalRequest

from .conftest import refund


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "status"), [(20, "allowed"), (120, "pending"), (-1, "denied")])
def test_it_answers_the_same_key_with_the_same_request(agent_client, refund_policy, amount, status):
    first = refund(agent_client, key="same", amount_usd=amount, customer_tier="pro")
    second = refund(agent_client, key="same", amount_usd=amount, customer_tier="pro")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    assert first.json()["status"] == status
    assert ActionRequest.objects.count() == 1
    assert ApprovalRequest.objects.count() == (1 if status == "pending" else 0)


@pytest.mark.django_db
def test_it_refuses_a_key_reused_for_another_action_and_keeps_the_first(agent_client, refund_policy):
    first = refund(agent_client, key="k", amount_usd=20, customer_tier="pro")
    response = refund(agent_client, key="k", amount_usd=21, customer_tier="pro")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "idempotency_conflict"
    assert str(ActionRequest.objects.get().pk) == first.json()["id"]


@pytest.mark.django_db
def test_it_scopes_keys_per_agent(agent_client, other_agent_client, refund_policy):
    a = refund(agent_client, key="shared", amount_usd=20, customer_tier="pro")
    b = refund(other_agent_client, key="shared", amount_usd=20, customer_tier="pro")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.django_db
def test_a_replay_reflects_the_current_state_not_the_first_answer(agent_client, refund_policy, support_managers):
    from approvals.services import decision_record

    first = refund(agent_client, key="p", amount_usd=120, customer_tier="pro").json()
    req = ApprovalRequest.objects.get()
    for user in support_managers:
        decision_record(request_id=req.pk, approver=user, verdict="approve", reason="ok", payload_hash=req.payload_hash)
    again = refund(agent_client, key="p", amount_usd=120, customer_tier="pro").json()
    assert (first["status"], again["status"]) == ("pending", "approved")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("amount", [20, 120])
def test_two_concurrent_first_posts_make_one_record(gate_reseeded, agent_key, refund_policy, monkeypatch, amount):
    """GIVEN two posts with one key on two connections, both past the "seen this key?" check
    (a barrier holds them there), WHEN both insert, THEN the unique constraint lets one win and
    the other answers the winner's request: one row, one approval request at most, same id."""
    barrier = threading.Barrier(2)
    real_decide = services.action_decide

    def decide_together(**kwargs):
        outcome = real_decide(**kwargs)
        barrier.wait(timeout=10)
        return outcome

    monkeypatch.setattr(services, "action_decide", decide_together)
    results, errors = [], []

    def post():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
            response = refund(client, key="race", amount_usd=amount, customer_tier="standard")
            results.append((response.status_code, response.json()))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(code for code, _ in results) == [200, 201]
    assert results[0][1]["id"] == results[1][1]["id"]
    assert ActionRequest.objects.count() == 1
    assert ApprovalRequest.objects.count() == (1 if amount > 50 else 0)
