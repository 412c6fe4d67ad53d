"""The seeded payments.refund policy, decided through the API: boundaries, tiers, bad input."""

from __future__ import annotations

import pytest

from actions.models import ActionRequest
from approvals.models import ApprovalRequest

from .conftest import refund

pytestmark = pytest.mark.django_db

# amount, tier -> status, rule number (rules: 1 deny <= 0, 2 allow <= 50 standard/pro, 3 allow <= 200
# enterprise, 4 two support managers above 50)
TABLE = [
    (50, "standard", "allowed", 2),
    (50, "pro", "allowed", 2),
    (50, "enterprise", "allowed", 3),
    (50.01, "standard", "pending", 4),
    (50.01, "pro", "pending", 4),
    (50.01, "enterprise", "allowed", 3),
    (200, "standard", "pending", 4),
    (200, "pro", "pending", 4),
    (200, "enterprise", "allowed", 3),
    (200.01, "standard", "pending", 4),
    (200.01, "pro", "pending", 4),
    (200.01, "enterprise", "pending", 4),
]


@pytest.mark.parametrize(("amount", "tier", "status", "rule"), TABLE)
def test_it_decides_each_boundary_and_tier_by_the_seeded_rules(agent_client, refund_policy, amount, tier, status, rule):
    response = refund(agent_client, key=f"r-{amount}-{tier}", amount_usd=amount, customer_tier=tier)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == status
    assert body["decision"]["rule"]["number"] == rule
    assert body["decision"]["policy_version"] == refund_policy.number
    assert body["decision"]["source"] == "policy_rule"
    stored = ActionRequest.objects.get(pk=body["id"])
    assert (stored.status, stored.rule_number, stored.policy_version_id) == (status, rule, refund_policy.pk)
    if status == "pending":
        assert body["approval"]["required_approvals"] == 2
        assert body["approval"]["roles"] == ["Support manager"]
        assert stored.approval_request.status == "pending"
        assert body["expires_at"] is not None
    else:
        assert stored.approval_request is None


def test_it_accepts_amounts_sent_as_strings_exactly(agent_client, refund_policy):
    body = refund(agent_client, key="s1", amount_usd="50.00", customer_tier="pro").json()
    assert body["status"] == "allowed"
    body = refund(agent_client, key="s2", amount_usd="50.001", customer_tier="pro").json()
    assert body["status"] == "pending"


def test_it_denies_a_non_positive_amount_with_the_rule_reason(agent_client, refund_policy):
    body = refund(agent_client, key="neg", amount_usd=0, customer_tier="pro").json()
    assert body["status"] == "denied"
    assert body["decision"]["reason"] == "A refund amount must be positive."
    assert body["decision"]["rule"]["number"] == 1


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"customer_tier": "pro"}, "parameters.amount_usd", "required"),
        ({"amount_usd": 10}, "parameters.customer_tier", "required"),
        ({"amount_usd": "ten", "customer_tier": "pro"}, "parameters.amount_usd", "invalid"),
        ({"amount_usd": True, "customer_tier": "pro"}, "parameters.amount_usd", "invalid"),
        ({"amount_usd": 10, "customer_tier": "gold"}, "parameters.customer_tier", "invalid"),
        ({"amount_usd": 10, "customer_tier": "pro", "iban": "DE00"}, "parameters.iban", "unknown_field"),
        ({"amount_usd": "NaN", "customer_tier": "pro"}, "parameters.amount_usd", "invalid"),
    ],
)
def test_it_refuses_bad_parameters_naming_the_field_and_stores_nothing(
    agent_client, refund_policy, params, field, code
):
    response = refund(agent_client, key="bad", **params)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"field": field, "code": code} == {k: errors[0][k] for k in ("field", "code")}
    assert field.split(".")[1] in errors[0]["message"]
    assert ActionRequest.objects.count() == 0
    assert ApprovalRequest.objects.count() == 0


def test_it_reports_every_missing_field_at_once(agent_client, refund_policy):
    response = refund(agent_client, key="bad")
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"parameters.amount_usd", "parameters.customer_tier"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parameters": {}, "idempotency_key": "a"}, "tool"),
        ({"tool": "payments.nope", "parameters": {}, "idempotency_key": "a"}, "tool"),
        ({"tool": "payments.refund", "parameters": [], "idempotency_key": "a"}, "parameters"),
        ({"tool": "payments.refund", "parameters": {"amount_usd": 1, "customer_tier": "pro"}}, "idempotency_key"),
        (
            {
                "tool": "payments.refund",
                "parameters": {"amount_usd": 1, "customer_tier": "pro"},
                "idempotency_key": "a b",
            },
            "idempotency_key",
        ),
        ({"tool": "payments.refund", "parameters": {}, "idempotency_key": "a", "extra": 1}, "extra"),
        ({"tool": "payments.refund", "parameters": {}, "idempotency_key": "a", "dry_run": "yes"}, "dry_run"),
        (
            {"tool": "payments.refund", "parameters": {"x": "y" * 9000}, "idempotency_key": "a"},
            "parameters",
        ),
    ],
)
def test_it_refuses_a_bad_envelope_naming_the_field(agent_client, refund_policy, body, field):
    response = agent_client.post("/api/v1/action-requests/", body, format="json")
    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}
    assert ActionRequest.objects.count() == 0


def test_it_answers_a_dry_run_without_storing_anything(agent_client, refund_policy):
    body = {"tool": "payments.refund", "dry_run": True, "parameters": {"amount_usd": 120, "customer_tier": "pro"}}
    response = agent_client.post("/api/v1/action-requests/", body, format="json")
    assert response.status_code == 200
    answer = response.json()
    assert (answer["status"], answer["id"], answer["dry_run"]) == ("pending", None, True)
    assert answer["decision"]["rule"]["number"] == 4
    assert ActionRequest.objects.count() == 0
    assert ApprovalRequest.objects.count() == 0
