"""Issue 18, item 3: static analysis at save. A seeded set of defective policies, every defect
found with its line and column; nothing flagged in the demo policies; errors refuse the proposal
(console and API), warnings are shown on save and on the request."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.utils import timezone

from actions.demo import OTHER_POLICIES, REFUND_POLICY
from actions.models import ActionPolicyVersion, ActionRequest
from actions.policy_analysis import ERROR, WARNING, policy_text_analyse
from actions.selectors import policy_findings
from approvals.models import ApprovalRequest
from tests.approvals.test_api import token_client

from .conftest import refund

FIELDS = """\
amount_usd: decimal
tier: enum(standard, pro, enterprise)
count: integer
urgent: boolean optional
note: string optional"""

# (rules, [(severity, code, line, column)]) — every defect each policy was seeded with.
DEFECTIVE = {
    "self-contradiction": (
        'deny "x" if amount_usd > 100 and amount_usd < 50\nallow if amount_usd < 1',
        [(ERROR, "never_true", 1, 13)],
    ),
    "empty integer range": (
        'deny "x" if count > 1 and count < 2\nallow if amount_usd < 1',
        [(ERROR, "never_true", 1, 13)],
    ),
    "shadowed by a wider rule": (
        'deny "big" if amount_usd > 100\n'
        "deny \"pro big\" if amount_usd > 500 and tier == 'pro'\n"
        "allow if amount_usd < 5",
        [(ERROR, "unreachable", 2, 19)],
    ),
    "shadowed by two rules together": (
        'deny "a" if amount_usd > 100\nallow if amount_usd <= 100 and amount_usd > 3\nallow if amount_usd > 50',
        [(ERROR, "unreachable", 3, 10)],
    ),
    "after an unconditional rule": (
        'allow if amount_usd < 5\ndeny "everything else"\ndeny "never" if tier == \'pro\'',
        [(ERROR, "unreachable", 3, 17)],
    ),
    "same condition, other outcome": (
        'allow if amount_usd <= 50\ndeny "no" if amount_usd <= 50',
        [(ERROR, "contradictory", 2, 14)],
    ),
    "negation": (
        "allow if not (amount_usd > 10) and amount_usd >= 0\nallow if amount_usd < 5 and amount_usd >= 1",
        [(ERROR, "unreachable", 2, 10)],
    ),
    "optional flag both ways": (
        'deny "urgent" if urgent\nallow if not urgent and amount_usd < 5\nallow if amount_usd < 3',
        [(ERROR, "unreachable", 3, 10)],
    ),
    "context never true": (
        'deny "night" if context.hour < 6 and context.hour > 20\nallow if amount_usd < 1',
        [(ERROR, "never_true", 1, 17)],
    ),
    "context shadowed": (
        "deny \"weekend\" if context.weekday in ['sat', 'sun']\ndeny \"sunday\" if context.weekday == 'sun'\n"
        "allow if amount_usd < 1",
        [(ERROR, "unreachable", 2, 18)],
    ),
    "allows any amount": (
        "allow if tier in ['standard', 'pro', 'enterprise']",
        [(WARNING, "allows_any_amount", 1, 10)],
    ),
    "allows any amount above a floor": (
        'deny "negative" if amount_usd < 0\nallow if amount_usd > 10',
        [(WARNING, "allows_any_amount", 2, 10)],
    ),
    "enum value not covered": (
        "allow if tier == 'standard' and amount_usd < 10\ndeny \"pro\" if tier == 'pro'",
        [(WARNING, "enum_uncovered", 2, 1)],
    ),
}


@pytest.mark.parametrize("name", list(DEFECTIVE))
def test_every_seeded_defect_is_found_with_its_line_and_column(name):
    rules, expected = DEFECTIVE[name]
    findings = policy_text_analyse(fields_source=FIELDS, rules_source=rules)
    assert [(f.severity, f.code, f.line, f.column) for f in findings] == expected


def test_the_enum_finding_names_the_value_and_the_field_line():
    rules = DEFECTIVE["enum value not covered"][0]
    (finding,) = policy_text_analyse(fields_source=FIELDS, rules_source=rules)
    assert finding.where == "fields" and "tier = 'enterprise'" in finding.message
    assert finding.describe().startswith("Fields, line 2, column 1:")


@pytest.mark.parametrize(
    "rules",
    [
        "deny \"big\" if amount_usd > 1000\nallow if tier == 'pro'",  # the deny caps what the allow lets through
        "deny \"x\" if note == 'a'\nallow if note != 'a' and amount_usd < 5",  # a missing note matches neither
        "allow if amount_usd < count",  # a field against a field: not modelled, not guessed at
    ],
)
def test_sound_policies_are_not_flagged(rules):
    assert policy_text_analyse(fields_source=FIELDS, rules_source=rules) == []


@pytest.mark.parametrize("policy", [REFUND_POLICY, *OTHER_POLICIES.values()])
def test_nothing_is_flagged_in_the_demo_policies(policy):
    assert policy_text_analyse(fields_source=policy["fields_source"], rules_source=policy["rules_source"]) == []


@pytest.mark.django_db
def test_rules_in_force_that_never_fired_in_30_days_are_flagged(agent_client, refund_policy):
    assert refund(agent_client, key="small", amount_usd=20, customer_tier="pro").json()["status"] == "allowed"
    old = refund(agent_client, key="old", amount_usd=-1, customer_tier="pro").json()
    ActionRequest.objects.filter(pk=old["id"]).update(created_at=timezone.now() - timedelta(days=31))
    findings = policy_findings(
        tool=refund_policy.tool, fields_source=refund_policy.fields_source, rules_source=refund_policy.rules_source
    )
    assert [(f.code, f.rule, f.line) for f in findings] == [
        ("never_fired", 1, 2),  # the negative-amount deny fired 31 days ago only
        ("never_fired", 3, 6),
        ("never_fired", 4, 8),
    ]


@pytest.mark.django_db
def test_a_meaningless_rule_is_refused_in_the_console_and_nothing_is_proposed(client, board_user, refund_policy):
    client.force_login(board_user)
    data = {
        "fields_source": refund_policy.fields_source,
        "rules_source": refund_policy.rules_source + '\ndeny "Too large" if amount_usd > 5000',
        "redact_fields": "",
        "retention_days": 365,
        "note": "cap",
    }
    response = client.post("/actions/policies/payments.refund/edit/", data)
    assert response.status_code == 400
    text = html.unescape(response.content.decode())
    assert "Rules, line 9, column 21: unreachable: every request it matches is decided first by rule 4." in text
    assert not ApprovalRequest.objects.filter(kind="action_policy_change").exists()
    assert ActionPolicyVersion.objects.count() == 1


@pytest.mark.django_db
def test_warnings_are_shown_on_save_and_on_the_request(client, board_user, refund_policy):
    client.force_login(board_user)
    data = {
        "fields_source": refund_policy.fields_source,
        "rules_source": "allow if customer_tier == 'pro'",
        "redact_fields": "",
        "retention_days": 365,
        "note": "pro customers",
    }
    response = client.post("/actions/policies/payments.refund/edit/", data, follow=True)
    text = html.unescape(response.content.decode())
    assert "Static analysis: Rules, line 1, column 10: allows every value of the money field amount_usd" in text
    assert "no rule covers customer_tier = 'standard'" in text


@pytest.mark.django_db
def test_the_api_validation_answer_names_the_defect(board_user, refund_policy):
    payload = {
        "tool": "payments.refund",
        "fields_source": refund_policy.fields_source,
        "rules_source": 'allow if amount_usd <= 50\ndeny "no" if amount_usd <= 50',
        "redact_fields": [],
        "retention_days": 365,
    }
    response = token_client(board_user).post(
        "/api/v1/change-requests/",
        {"kind": "action_policy_change", "payload": payload, "justification": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "line 2, column 14: contradicts rule 1" in str(response.json())
    assert not ApprovalRequest.objects.filter(kind="action_policy_change").exists()


@pytest.mark.django_db
def test_the_api_201_answer_carries_the_warnings_with_line_and_column(board_user, refund_policy):
    payload = {
        "tool": "payments.refund",
        "fields_source": refund_policy.fields_source,
        "rules_source": "allow if customer_tier == 'pro'",
        "redact_fields": [],
        "retention_days": 365,
    }
    response = token_client(board_user).post(
        "/api/v1/change-requests/",
        {"kind": "action_policy_change", "payload": payload, "justification": "pro customers"},
        format="json",
    )
    assert response.status_code == 201, response.content
    warnings = response.json()["warnings"]
    assert [(w["code"], w["line"], w["column"], w["where"]) for w in warnings] == [
        ("enum_uncovered", 2, 1, "fields"),  # standard
        ("enum_uncovered", 2, 1, "fields"),  # enterprise
        ("allows_any_amount", 1, 10, "rules"),
    ]
    assert any("allows every value of the money field amount_usd" in w["message"] for w in warnings)
    assert any("no rule covers customer_tier = 'standard'" in w["message"] for w in warnings)
