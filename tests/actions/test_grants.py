"""Issue 13, item 3: the runtime gate enforces grants and their typed constraints.

An action on a tool the running version was not granted is denied, naming tool and version;
a grant's constraints (amount cap, allowed values, rates) refuse the action, naming the
constraint; the rates hold under concurrency; constraints are typed when the grant is asked."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from rest_framework.test import APIClient

from actions.demo import REFUND_POLICY
from actions.models import ActionRequest
from actions.services import policy_version_create
from approvals.choices import RequestKind
from approvals.services import request_create
from registry.models import Agent, ToolGrant
from tests.factories import AgentVersionFactory, ToolFactory

from .conftest import grant_deployed, refund

pytestmark = pytest.mark.django_db


def post(client, tool, key, version=None, **params):
    body = {"tool": tool, "idempotency_key": key, "parameters": params}
    if version is not None:
        body["version"] = version
    return client.post("/api/v1/action-requests/", body, format="json")


def test_a_tool_never_granted_is_denied_naming_tool_and_version(agent, agent_client, refund_policy):
    """The side door: knowledge-search, granted only kb.search, got "allowed" for a 20 USD refund."""
    kb = ToolFactory(name="kb.search", action_tier=0)
    version = agent.versions.get()
    version.grants.filter(tool__name="payments.refund").delete()
    grant_deployed(agent, kb)
    response = refund(agent_client, key="ungranted", amount_usd=20, customer_tier="pro")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "denied"
    assert "payments.refund" in body["decision"]["reason"]
    assert f"version {version.label}" in body["decision"]["reason"]


def test_an_agent_without_a_deployed_version_is_denied(agent_client, agent, refund_tool, support_managers):
    policy_version_create(tool=refund_tool, **REFUND_POLICY)
    assert not agent.versions.exists()
    body = refund(agent_client, key="none", amount_usd=20, customer_tier="pro").json()
    assert body["status"] == "denied"
    assert "no deployed version" in body["decision"]["reason"]


def test_canary_traffic_is_checked_against_the_canary_version(agent, agent_client, refund_policy):
    """The deployed version holds payments.refund; the canary does not: canary traffic is refused."""
    canary = AgentVersionFactory(agent=agent, label="2.0", state="approved")
    Agent.objects.filter(pk=agent.pk).update(canary_version=canary, canary_share_pct=10)
    deployed = refund(agent_client, key="d", amount_usd=20, customer_tier="pro").json()
    assert deployed["status"] == "allowed"
    body = post(agent_client, "payments.refund", "c", version="2.0", amount_usd=20, customer_tier="pro").json()
    assert body["status"] == "denied"
    assert "version 2.0" in body["decision"]["reason"]
    # A grant on the canary lets canary traffic through.
    ToolGrant.objects.bulk_create([ToolGrant(version=canary, tool=refund_policy.tool, constraints={})])
    body = post(agent_client, "payments.refund", "c2", version="2.0", amount_usd=20, customer_tier="pro").json()
    assert body["status"] == "allowed"


def test_a_version_that_is_neither_deployed_nor_canary_is_bad_input(agent, agent_client, refund_policy):
    AgentVersionFactory(agent=agent, label="0.9", state="superseded")
    response = post(agent_client, "payments.refund", "x", version="0.9", amount_usd=20, customer_tier="pro")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "version"
    assert not ActionRequest.objects.exists()


def test_the_amount_cap_refuses_naming_the_constraint_before_the_policy_rules(agent, agent_client, refund_policy):
    grant_deployed(agent, refund_policy.tool, constraints={"max_amount_usd": 500})
    assert refund(agent_client, key="a", amount_usd=120, customer_tier="standard").json()["status"] == "pending"
    body = refund(agent_client, key="b", amount_usd=600, customer_tier="standard").json()
    assert body["status"] == "denied"
    assert "max_amount_usd" in body["decision"]["reason"]
    assert "600" in body["decision"]["reason"]


def test_allowed_values_refuse_another_value(agent, agent_client, refund_policy):
    grant_deployed(agent, refund_policy.tool, constraints={"customer_tier": ["pro"]})
    assert refund(agent_client, key="a", amount_usd=20, customer_tier="pro").json()["status"] == "allowed"
    body = refund(agent_client, key="b", amount_usd=20, customer_tier="standard").json()
    assert body["status"] == "denied"
    assert "customer_tier" in body["decision"]["reason"]


def test_a_constraint_the_tool_does_not_declare_refuses_rather_than_being_ignored(agent, agent_client, refund_policy):
    grant_deployed(agent, refund_policy.tool, constraints={"recipients": "customer_of_record_only"})
    body = refund(agent_client, key="a", amount_usd=20, customer_tier="pro").json()
    assert body["status"] == "denied"
    assert "recipients" in body["decision"]["reason"]


def test_the_hourly_rate_refuses_the_sixth_naming_the_constraint(agent, agent_client, refund_policy):
    grant_deployed(agent, refund_policy.tool, constraints={"max_per_hour": 5})
    statuses = [refund(agent_client, key=f"r{i}", amount_usd=20, customer_tier="pro").json() for i in range(6)]
    assert [s["status"] for s in statuses] == ["allowed"] * 5 + ["denied"]
    assert "max_per_hour" in statuses[-1]["decision"]["reason"]
    # A replay of an allowed key is still answered, not counted again.
    assert refund(agent_client, key="r0", amount_usd=20, customer_tier="pro").json()["status"] == "allowed"


def test_denied_actions_do_not_use_up_the_rate(agent, agent_client, refund_policy):
    grant_deployed(agent, refund_policy.tool, constraints={"max_per_day": 1})
    assert refund(agent_client, key="neg", amount_usd=-1, customer_tier="pro").json()["status"] == "denied"
    assert refund(agent_client, key="ok", amount_usd=20, customer_tier="pro").json()["status"] == "allowed"
    body = refund(agent_client, key="no", amount_usd=20, customer_tier="pro").json()
    assert body["status"] == "denied" and "max_per_day" in body["decision"]["reason"]


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_requests_against_max_per_hour_5_allow_exactly_5(gate_reseeded, agent, agent_key):
    """GIVEN a grant with max_per_hour 5 and 20 posts on 20 connections released together by a
    barrier, THEN exactly 5 are allowed and 15 denied naming the constraint."""
    tool = ToolFactory(name="tickets.reply", action_tier=2)
    grant_deployed(agent, tool, constraints={"max_per_hour": 5})
    barrier = threading.Barrier(20)
    results, errors = [], []

    def one(i):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
            barrier.wait(timeout=20)
            response = post(client, "tickets.reply", f"par-{i}", ticket="T-1")
            results.append(response.json())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["allowed"] * 5 + ["denied"] * 15
    assert all("max_per_hour" in r["decision"]["reason"] for r in results if r["status"] == "denied")
    assert ActionRequest.objects.filter(status="allowed").count() == 5


@pytest.mark.parametrize(
    ("constraints", "named"),
    [
        ({"max_amount": 50}, "max_amount"),
        ({"max_amount_usd": "lots"}, "max_amount_usd"),
        ({"max_amount_usd": -1}, "max_amount_usd"),
        ({"max_per_hour": 0}, "max_per_hour"),
        ({"max_per_day": 2.5}, "max_per_day"),
        ({"currency": "USD"}, "currency"),
        ({"order_id": ["A-1"]}, "order_id"),
    ],
)
def test_a_grant_request_with_an_untyped_constraint_is_refused_naming_it(
    agent, refund_tool, owner_user, constraints, named
):
    grant_deployed(agent, ToolFactory(name="kb.search", action_tier=0))
    with pytest.raises(ValidationError) as exc:
        request_create(
            agent=agent,
            kind=RequestKind.TOOL_GRANT,
            payload={"tool": "payments.refund", "constraints": constraints},
            requester=owner_user,
            justification="x",
        )
    messages = exc.value.message_dict["constraints"]
    assert any(m.startswith(f"{named}:") for m in messages)


def test_a_grant_request_with_typed_constraints_is_accepted(agent, refund_tool, owner_user):
    grant_deployed(agent, ToolFactory(name="kb.search", action_tier=0))
    constraints = {"max_amount_usd": 500, "max_per_hour": 5, "max_per_day": 20, "currency": ["USD", "EUR"]}
    req = request_create(
        agent=agent,
        kind=RequestKind.TOOL_GRANT,
        payload={"tool": "payments.refund", "constraints": constraints},
        requester=owner_user,
        justification="x",
    )
    assert req.payload["constraints"] == constraints


def test_seeding_an_older_demo_database_declares_its_tools_constraints(db):
    """A demo database seeded before constraints were typed has tools without a schema; seeding
    again declares it, so the demo grants (max_amount_usd 500) keep working at the gate."""
    from registry.demo import seed_registry
    from registry.models import Tool

    Tool.objects.create(name="payments.refund", system="Stripe", action_tier=3)
    seed_registry()
    assert "max_amount_usd" in Tool.objects.get(name="payments.refund").constraint_schema
