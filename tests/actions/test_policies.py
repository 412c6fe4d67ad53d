"""Policies: the language refuses what it cannot check, at save, pointing at the bad part;
each edit is a new immutable version; decisions name the version they were made under."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from actions.demo import REFUND_FIELDS, REFUND_POLICY
from actions.language import PolicySyntaxError, condition_parse, evaluate, fields_parse
from actions.models import ActionPolicyVersion
from actions.services import policy_version_create

from .conftest import refund

FIELDS = fields_parse(REFUND_FIELDS)


@pytest.mark.parametrize(
    ("condition", "column", "token", "words"),
    [
        ("amont_usd > 5", 1, "amont_usd", "unknown field 'amont_usd'"),
        ("amount_usd > 5 and tier == 'pro'", 20, "tier", "unknown field 'tier'"),
        ("amount_usd >", 13, "", "ends too early"),
        ("amount_usd = 5", 12, "=", "'=='"),
        ("amount_usd > 5 5", 16, "5", "unexpected text"),
        ("(amount_usd > 5", 16, "", "expected ')'"),
        ("customer_tier == 'gold'", 18, "'gold'", "not one of the values"),
        ("amount_usd > 'x'", 12, ">", "cannot compare a number with a string"),
        ("customer_tier < 'pro'", 15, "<", "compares numbers only"),
        ("amount_usd in 5", 15, "5", "needs a list"),
        ("amount_usd", 1, "amount_usd", "not a condition"),
        ("amount_usd > 5 $", 16, "$", "unexpected character"),
        ("customer_tier == 'pro", 18, "'pro", "unterminated string"),
        ("__import__('os') == 1", 11, "(", "unexpected text"),
        ("amount_usd.__class__ == 1", 11, ".", "unexpected character"),
    ],
)
def test_it_refuses_a_bad_condition_with_its_column_and_token(condition, column, token, words):
    with pytest.raises(PolicySyntaxError) as exc:
        condition_parse(condition, FIELDS)
    assert exc.value.column == column
    assert exc.value.token == token
    assert words in exc.value.message


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("amount_usd <= 50", {"amount_usd": Decimal("50")}, True),
        ("amount_usd <= 50", {"amount_usd": Decimal("50.01")}, False),
        ("not (amount_usd > 10 or customer_tier == 'pro')", {"amount_usd": Decimal(5), "customer_tier": "std"}, True),
        ("customer_tier not in ['pro', 'enterprise']", {"customer_tier": "standard"}, True),
        ("amount_usd > 1 and amount_usd < 3 or amount_usd == 10", {"amount_usd": Decimal(10)}, True),
        ("reason == 'x'", {}, False),  # an optional field left out compares false
        ("not reason == 'x'", {}, True),
        ("amount_usd >= -5.5", {"amount_usd": Decimal("-5.5")}, True),
    ],
)
def test_it_evaluates_conditions_without_eval(condition, values, expected):
    assert evaluate(condition_parse(condition, FIELDS), values) is expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"rules_source": "allow if amont_usd <= 5"}, "rules_source", "line 1, column 10: unknown field 'amont_usd'"),
        ({"rules_source": "allow\nallow if amount_usd <="}, "rules_source", "line 2, column 23"),
        ({"rules_source": "permit if amount_usd < 5"}, "rules_source", "line 1, column 1: a rule starts with"),
        (
            {"rules_source": 'require 2 approvals from "Nobody" if amount_usd > 1'},
            "rules_source",
            "no role (group) named 'Nobody'",
        ),
        ({"rules_source": "deny if amount_usd > 1"}, "rules_source", "gives the reason"),
        ({"fields_source": "amount_usd: money"}, "fields_source", "line 1, column 13: unknown type 'money'"),
        ({"fields_source": "amount_usd decimal"}, "fields_source", "expected 'name: type'"),
        ({"fields_source": "a: decimal\na: string"}, "fields_source", "declared twice"),
        ({"fields_source": ""}, "fields_source", "at least one field"),
        ({"redact_fields": ["card_number", "iban"]}, "redact_fields", "iban"),
        ({"retention_days": 0}, "retention_days", "between 1 and 3650"),
    ],
)
def test_it_refuses_a_bad_policy_at_save_and_saves_nothing(refund_tool, support_managers, change, field, words):
    with pytest.raises(ValidationError) as exc:
        policy_version_create(tool=refund_tool, **{**REFUND_POLICY, **change})
    assert words in " ".join(exc.value.message_dict[field])
    assert ActionPolicyVersion.objects.count() == 0


@pytest.mark.django_db
def test_editing_creates_a_new_version_and_old_decisions_keep_theirs(agent_client, refund_policy, board_user):
    first = refund(agent_client, key="a", amount_usd=120, customer_tier="pro").json()
    v2 = policy_version_create(
        tool=refund_policy.tool,
        actor=board_user,
        **{**REFUND_POLICY, "rules_source": REFUND_POLICY["rules_source"].replace("<= 50", "<= 150"), "note": "raise"},
    )
    second = refund(agent_client, key="b", amount_usd=120, customer_tier="pro").json()
    assert (refund_policy.number, v2.number) == (1, 2)
    assert (first["status"], first["decision"]["policy_version"]) == ("pending", 1)
    assert (second["status"], second["decision"]["policy_version"]) == ("allowed", 2)
    refund_policy.refresh_from_db()
    assert "<= 50 " in refund_policy.rules_source  # v1 unchanged
    with pytest.raises(ValidationError):
        refund_policy.save()
    with pytest.raises(ValidationError):
        refund_policy.delete()
    with pytest.raises(ValidationError):
        ActionPolicyVersion.objects.filter(pk=refund_policy.pk).update(note="x")
