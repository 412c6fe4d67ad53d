"""Issue 18, item 2: backtest ("what if"). A small recorded history of payments.refund, made
through the real gate, replayed against a draft: the exact changed-decision counts, from what to
what and by rule; redacted fields excluded and said so; purged, gate-decided and out-of-period
requests not replayed."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.utils import timezone

from actions.backtest import policy_backtest
from actions.models import ActionRequest
from actions.services import policy_validate
from registry.models import Agent

from .conftest import refund

pytestmark = pytest.mark.django_db

DRAFT = """\
deny "A refund amount must be positive." if amount_usd <= 0
allow if amount_usd <= 100 and customer_tier in ['standard', 'pro']
deny "No enterprise refund above 250" if amount_usd > 250 and customer_tier == 'enterprise'
require 1 approval from "Support manager" if amount_usd > 100
deny "Test cards are refused" if card_number == '4242424242424242'"""

SM2 = "2 approval(s) from Support manager"
SM1 = "1 approval(s) from Support manager"


@pytest.fixture
def history(agent, agent_client, refund_policy):
    """Nine requests: seven replayable, one purged, one denied by the kill switch, and one from
    40 days ago (outside the period)."""
    made = {}
    for key, amount, tier, extra in [
        ("a", 20, "pro", {}),  # allow (rule 2) -> allow
        ("b", 40, "standard", {}),  # allow (rule 2) -> allow
        ("c", 60, "pro", {}),  # 2 approvals (rule 4) -> allow (draft rule 2)
        ("d", 150, "enterprise", {}),  # allow (rule 3) -> 1 approval (draft rule 4)
        ("e", 300, "enterprise", {}),  # 2 approvals (rule 4) -> deny (draft rule 3)
        ("f", -5, "pro", {}),  # deny (rule 1) -> deny
        ("g", 30, "pro", {"card_number": "4242424242424242"}),  # redacted: the draft's rule 5 cannot see it
        ("h", 70, "standard", {}),  # purged below
        ("old", 60, "standard", {}),  # moved out of the period below
    ]:
        made[key] = refund(agent_client, key=key, amount_usd=amount, customer_tier=tier, **extra).json()
    ActionRequest.objects.filter(pk=made["h"]["id"]).update(
        parameters={"_purged": "[redacted]"}, parameters_purged_at=timezone.now()
    )
    ActionRequest.objects.filter(pk=made["old"]["id"]).update(created_at=timezone.now() - timedelta(days=40))
    Agent.objects.filter(pk=agent.pk).update(side_effects_enabled=False)
    made["k"] = refund(agent_client, key="k", amount_usd=10, customer_tier="pro").json()
    assert made["k"]["decision"]["source"] == "kill_switch"
    return made


def _run(refund_policy, rules=DRAFT):
    fields, parsed, _r, _d = policy_validate(
        fields_source=refund_policy.fields_source, rules_source=rules, redact_fields=[], retention_days=365
    )
    now = timezone.now()
    return policy_backtest(
        tool=refund_policy.tool,
        fields=fields,
        rules=parsed,
        start=now - timedelta(days=7),
        end=now + timedelta(minutes=1),
    )


def test_the_draft_changes_exactly_the_hand_counted_decisions(history, refund_policy):
    result = _run(refund_policy)
    assert (result.total, result.replayed, result.unchanged, result.changed) == (9, 7, 4, 3)
    assert (result.purged, result.gate_decided, result.refused) == (1, 1, 0)
    assert result.transitions == {(SM2, "allow"): 1, ("allow", SM1): 1, (SM2, "deny"): 1}
    rows = {(c.before_rule.split(":")[0], c.after_rule.split(":")[0], c.count) for c in result.changes}
    assert rows == {("rule 4", "rule 2", 1), ("rule 3", "rule 4", 1), ("rule 4", "rule 3", 1)}
    examples = {c.after: c.examples for c in result.changes}
    assert examples == {"allow": [history["c"]["id"]], SM1: [history["d"]["id"]], "deny": [history["e"]["id"]]}


def test_redacted_fields_are_excluded_and_the_result_says_which_rules_read_them(history, refund_policy):
    result = _run(refund_policy)
    assert result.redacted_fields == {"card_number": 1}
    assert result.redacted_rules == [5]


def test_the_policy_in_force_replayed_on_itself_changes_nothing(history, refund_policy):
    result = _run(refund_policy, rules=refund_policy.rules_source)
    assert (result.replayed, result.changed) == (7, 0)


def test_a_new_required_field_refuses_old_requests_and_says_so(history, refund_policy):
    fields, parsed, _r, _d = policy_validate(
        fields_source=refund_policy.fields_source + "\nregion: string",
        rules_source="allow if region == 'eu'",
        redact_fields=[],
        retention_days=365,
    )
    now = timezone.now()
    result = policy_backtest(
        tool=refund_policy.tool,
        fields=fields,
        rules=parsed,
        start=now - timedelta(days=1),
        end=now + timedelta(minutes=1),
    )
    assert (result.refused, result.replayed) == (7, 0)


def test_the_console_page_replays_and_shows_the_changes(client, board_user, history, refund_policy):
    client.force_login(board_user)
    page = client.get("/actions/policies/payments.refund/backtest/")
    assert page.status_code == 200 and "What if" in page.content.decode()
    today = timezone.now().date()
    data = {
        "start": (today - timedelta(days=6)).isoformat(),
        "end": today.isoformat(),
        "fields_source": refund_policy.fields_source,
        "rules_source": DRAFT,
    }
    response = client.post("/actions/policies/payments.refund/backtest/", data)
    text = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert "3 of 7 replayed decisions would change" in text
    assert "card_number" in text and "Draft rule 5 reads one" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end": "2026-01-01", "start": "2026-02-01"}, "The period ends before it starts."),
        ({"start": "2026-01-01", "end": "2026-03-01"}, "Replay at most 31 days at a time."),
        ({"start": "yesterday"}, "Enter a valid date."),
        ({"rules_source": "allow if amont_usd < 5"}, "unknown field 'amont_usd'"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(client, board_user, refund_policy, change, message):
    client.force_login(board_user)
    data = {
        "start": "2026-01-01",
        "end": "2026-01-07",
        "fields_source": refund_policy.fields_source,
        "rules_source": "",
    }
    response = client.post("/actions/policies/payments.refund/backtest/", {**data, **change})
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())


@pytest.mark.parametrize(
    "role",
    [
        "board_user",
        "approver_user",
        "owner_user",
        "other_owner_user",
        "operator_user",
        "executive_user",
        "auditor_user",
    ],
)
def test_every_role_that_reads_policies_reaches_the_page(client, request, refund_policy, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    expected = 200 if user.has_perm("actions.view_actionpolicyversion") else 403
    assert client.get("/actions/policies/payments.refund/backtest/").status_code == expected
    assert client.get("/actions/policies/no.such.tool/backtest/").status_code in (
        404,
        expected if expected == 403 else 404,
    )
