"""Issue 18, item 1: shadow mode. Draft rules set in shadow (a two-person request) beside the
refund policy in force record what they would have decided for every request the active
version decides, never apply it, and the disagreement table matches a hand-computed set.
Promoting the shadow is the two-person policy change; a failing shadow never touches the real
decision."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actions.models import ActionRequest, PolicyShadow, ShadowDecision
from actions.selectors import shadow_disagreements
from actions.services import policy_current
from actions.shadow import shadow_evaluate
from approvals.models import ApprovalRequest
from registry.models import Agent

from .conftest import refund
from .test_views import _approve_twice

pytestmark = pytest.mark.django_db

SHADOW = """\
deny "A refund amount must be positive." if amount_usd <= 0
allow if amount_usd <= 100 and customer_tier in ['standard', 'pro']
require 1 approval from "Support manager" if amount_usd > 100"""


def _set_shadow(client, board_user, rules=SHADOW):
    client.force_login(board_user)
    response = client.post("/actions/policies/payments.refund/shadow/", {"rules_source": rules, "note": "Try 100"})
    assert response.status_code == 302, html.unescape(response.content.decode())[-3000:]
    assert not PolicyShadow.objects.exists()  # proposed only: two others must approve
    _approve_twice(response)
    return PolicyShadow.objects.get(ended_at__isnull=True)


@pytest.fixture
def traffic(client, board_user, agent, agent_client, refund_policy):
    shadow = _set_shadow(client, board_user)
    made = {}
    for key, amount, tier in [
        ("a", 20, "pro"),  # allow (rule 2) | shadow: allow (rule 2)                agree
        ("b", 80, "pro"),  # 2 approvals (rule 4) | shadow: allow (rule 2)          disagree
        ("c", 90, "standard"),  # 2 approvals (rule 4) | shadow: allow (rule 2)     disagree
        ("d", 150, "enterprise"),  # allow (rule 3) | shadow: 1 approval (rule 3)   disagree
        ("e", 50, "enterprise"),  # allow (rule 3) | shadow: tier default (2)       disagree
        ("f", -1, "pro"),  # deny (rule 1) | shadow: deny (rule 1)                  agree
    ]:
        made[key] = refund(agent_client, key=key, amount_usd=amount, customer_tier=tier).json()
    Agent.objects.filter(pk=agent.pk).update(side_effects_enabled=False)
    made["k"] = refund(
        agent_client, key="k", amount_usd=10, customer_tier="pro"
    ).json()  # the kill switch: not the policy's
    return shadow, made


def test_setting_a_shadow_is_a_two_person_change(client, board_user, refund_policy):
    shadow = _set_shadow(client, board_user)
    assert shadow.base_version == refund_policy and [r["number"] for r in shadow.rules] == [1, 2, 3]
    assert shadow.change_request.kind == "action_policy_shadow" and shadow.started_by == board_user


def test_would_be_decisions_are_recorded_and_never_applied(traffic):
    shadow, made = traffic
    decided = {d.action_id: d for d in ShadowDecision.objects.filter(shadow=shadow)}
    assert len(decided) == 6 and ActionRequest.objects.get(pk=made["k"]["id"]).pk not in decided
    # The gate's answers are the active version's.
    statuses = {key: made[key]["status"] for key in "abcdef"}
    assert statuses == {"a": "allowed", "b": "pending", "c": "pending", "d": "allowed", "e": "allowed", "f": "denied"}
    for key in "abcdef":
        assert ActionRequest.objects.get(pk=made[key]["id"]).status == made[key]["status"]
    b = decided[ActionRequest.objects.get(pk=made["b"]["id"]).pk]
    assert (b.status, b.rule_number, b.active_status, b.active_rule_number, b.agreed) == (
        "allowed",
        2,
        "pending",
        4,
        False,
    )
    d = decided[ActionRequest.objects.get(pk=made["d"]["id"]).pk]
    assert (d.status, d.required_approvals, d.approver_role, d.agreed) == ("pending", 1, "Support manager", False)


def test_the_disagreement_table_matches_the_hand_computed_set(traffic):
    shadow, made = traffic
    table = shadow_disagreements(shadow=shadow)
    assert (table["evaluated"], table["disagreed"]) == (6, 4)
    by_rule = {(r["active_rule"], r["rule"], r["active_status"], r["status"]): r["count"] for r in table["by_rule"]}
    assert by_rule == {
        (4, 2, "pending", "allowed"): 2,
        (3, 3, "allowed", "pending"): 1,
        (3, None, "allowed", "pending"): 1,
    }
    today = timezone.now().date()
    rows = {(r["day"], r["active_rule"], r["rule"]): (r["count"], set(r["examples"])) for r in table["rows"]}
    assert rows == {
        (today, 4, 2): (2, {made["b"]["id"], made["c"]["id"]}),
        (today, 3, 3): (1, {made["d"]["id"]}),
        (today, 3, None): (1, {made["e"]["id"]}),
    }


def test_the_policy_page_shows_the_table_to_every_role(client, request, traffic):
    for role in ("board_user", "approver_user", "owner_user", "operator_user", "executive_user", "auditor_user"):
        user = request.getfixturevalue(role)
        client.force_login(user)
        page = client.get("/actions/policies/payments.refund/")
        assert page.status_code == 200, role
        text = html.unescape(page.content.decode())
        assert "4 of 6 evaluated requests decided otherwise by the shadow." in text, role
        expected = 200 if user.has_perm("actions.add_actionpolicyversion") else 403
        assert client.get("/actions/policies/payments.refund/shadow/").status_code == expected, role


def test_promoting_the_shadow_is_the_two_person_policy_change(client, board_user, traffic):
    shadow, _made = traffic
    client.force_login(board_user)
    response = client.post("/actions/policies/payments.refund/shadow/promote/")
    assert response.status_code == 302
    req = ApprovalRequest.objects.get(kind="action_policy_change")
    assert req.payload["rules_source"] == SHADOW and policy_current(tool=shadow.tool).number == 1
    _approve_twice(response)
    current = policy_current(tool=shadow.tool)
    assert current.number == 2 and current.rules_source == SHADOW
    shadow.refresh_from_db()
    assert shadow.ended_at is not None and shadow.end_reason == "promoted to v2"


def test_a_failing_shadow_never_touches_the_real_decision(client, board_user, agent_client, refund_policy, caplog):
    shadow = _set_shadow(client, board_user)
    PolicyShadow.objects.filter(pk=shadow.pk).update(rules=[{"tree": ["cmp", "<", ["f", "amount_usd"], ["s", "x"]]}])
    body = refund(agent_client, key="x1", amount_usd=20, customer_tier="pro").json()
    assert body["status"] == "allowed" and ActionRequest.objects.filter(pk=body["id"]).exists()
    assert not ShadowDecision.objects.exists()
    assert "shadow evaluation failed" in caplog.text


def _statements(captured) -> list[str]:
    """The queries but the savepoint around them (a test runs inside a transaction; a request in
    autocommit needs none)."""
    return [q["sql"].split()[0] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_the_shadow_costs_one_query_and_one_insert(client, board_user, agent_client, refund_policy):
    body = refund(agent_client, key="q1", amount_usd=20, customer_tier="pro").json()
    action = ActionRequest.objects.get(pk=body["id"])
    with CaptureQueriesContext(connection) as captured:
        assert shadow_evaluate(action=action, tool=refund_policy.tool, values={}) is None
    assert _statements(captured) == ["SELECT"]  # no shadow running: the one look-up
    _set_shadow(client, board_user)
    values = {"amount_usd": Decimal(20), "customer_tier": "pro"}
    with CaptureQueriesContext(connection) as captured:
        decision = shadow_evaluate(action=action, tool=refund_policy.tool, values=values)
    assert _statements(captured) == ["SELECT", "INSERT"] and decision.agreed


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("allow if amont_usd <= 5", "unknown field 'amont_usd'"),
        ('allow if amount_usd <= 5\ndeny "x" if amount_usd <= 5', "contradicts rule 1"),
        ("", "Write the rules to run in shadow."),
    ],
)
def test_bad_shadow_rules_are_refused_and_nothing_is_proposed(client, board_user, refund_policy, rules, message):
    client.force_login(board_user)
    response = client.post("/actions/policies/payments.refund/shadow/", {"rules_source": rules, "note": "n"})
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert not ApprovalRequest.objects.filter(kind="action_policy_shadow").exists()


def test_the_rules_in_force_are_not_a_shadow(client, board_user, refund_policy):
    client.force_login(board_user)
    data = {"rules_source": refund_policy.rules_source, "note": "same"}
    response = client.post("/actions/policies/payments.refund/shadow/", data)
    assert response.status_code == 400 and "rules in force (v1)" in html.unescape(response.content.decode())


def test_stopping_is_a_request_too_and_without_a_shadow_says_so(client, board_user, refund_policy):
    client.force_login(board_user)
    response = client.post("/actions/policies/payments.refund/shadow/stop/", follow=True)
    assert "has no shadow running" in html.unescape(response.content.decode())
    shadow = _set_shadow(client, board_user)
    response = client.post("/actions/policies/payments.refund/shadow/stop/")
    assert response.status_code == 302
    _approve_twice(response)
    shadow.refresh_from_db()
    assert shadow.ended_at is not None and shadow.end_reason.startswith("stopped by request #")


def test_people_without_the_policy_right_cannot_propose_promote_or_stop(client, approver_user, refund_policy):
    client.force_login(approver_user)
    assert (
        client.post("/actions/policies/payments.refund/shadow/", {"rules_source": SHADOW, "note": "n"}).status_code
        == 403
    )
    assert client.post("/actions/policies/payments.refund/shadow/promote/").status_code == 403
    assert client.post("/actions/policies/payments.refund/shadow/stop/").status_code == 403
    assert not ApprovalRequest.objects.exists()
