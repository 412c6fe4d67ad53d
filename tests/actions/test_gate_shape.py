"""The gate's hot path (issue 22 item 3, issue 18 item 7): one read for the tool, its policy, the
fleet switch, the shadow, the grant and the context; the counts over recent requests only when
the rules (or a running shadow's) read them, and a rule reading one sees its right value while
the other is not computed. The statement count of an auto-allowed request is pinned."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actions.language import rules_parse
from actions.models import PolicyShadow, ShadowDecision
from actions.services import action_request_submit, policy_version_create
from registry.budgets import spend_charge
from registry.models import Agent
from tests.factories import ToolFactory

from .conftest import grant_deployed

pytestmark = pytest.mark.django_db


@pytest.fixture
def gated(agent, board_user):
    tool = ToolFactory(name="tickets.reply", action_tier=2)
    grant_deployed(agent, tool)

    def rule(text):
        return policy_version_create(
            tool=tool, fields_source="note: string optional", rules_source=text, actor=board_user
        )

    return rule


def submit(agent, key, **extra):
    return action_request_submit(
        agent=Agent.objects.get(pk=agent.pk), tool_name="tickets.reply", parameters={}, idempotency_key=key, **extra
    )


def test_an_auto_allowed_request_is_seven_statements(agent, gated):
    """One read (tool, policy, fleet switch, shadow, grant and the context), then BEGIN, the
    budget charge, the insert, the chain's head and entry, COMMIT: no second context query when
    no rule reads a count, no shadow query when none runs."""
    gated("allow if context.spend_today_usd < 100 and context.hour >= 0")
    submit(agent, "warm")
    fresh = Agent.objects.get(pk=agent.pk)
    with CaptureQueriesContext(connection) as queries:
        action = action_request_submit(agent=fresh, tool_name="tickets.reply", parameters={}, idempotency_key="k")
    assert action.action.status == "allowed"
    sql = [q["sql"] for q in queries]
    assert "registry_spendcounter" in sql[0] and "actions_actionpolicyversion" in sql[0]
    assert not any("actions_policyshadow" in q for q in sql[1:])
    assert not any(q.startswith("SELECT") and "count(*)" in q for q in sql)
    assert len(sql) <= 7, sql  # the chain's append may become one statement (helper 3)


def test_the_counts_are_read_only_when_a_rule_reads_them(agent, gated):
    gated('deny "busy" if context.tool_actions_last_day >= 5')
    with CaptureQueriesContext(connection) as queries:
        action = submit(agent, "a").action
    counts = [q["sql"] for q in queries if "count(*)" in q["sql"]]
    assert len(counts) == 1 and "actions_actionrequest" in counts[0]
    assert action.decision_snapshot["context"]["tool_actions_last_day"] == "0"
    assert "tool_actions_last_hour" not in action.decision_snapshot["context"]


def test_a_context_field_no_rule_reads_is_not_computed(agent, gated):
    gated('deny "busy" if context.tool_actions_last_hour >= 2')
    spend_charge(agent=agent, cost_usd=Decimal("3"), session_id=None, now=timezone.now())
    action = submit(agent, "a").action
    context = action.decision_snapshot["context"]
    assert context["tool_actions_last_hour"] == "0"
    assert "tool_actions_last_day" not in context
    # The others are recorded for every request (a backtest of a draft policy replays them).
    assert context["spend_today_usd"] == "3.000000" and context["active_incident"] is False
    assert {"agent_tier", "environment", "hour", "weekday", "canary", "spend_month_usd"} <= set(context)


def test_a_rule_reading_one_field_sees_its_value_when_the_others_are_not_read(agent, gated):
    gated('deny "busy" if context.tool_actions_last_hour >= 2')
    assert submit(agent, "a").action.status == "allowed"
    assert submit(agent, "b").action.status == "allowed"
    third = submit(agent, "c").action
    assert (third.status, third.reason) == ("denied", "busy")
    assert third.decision_snapshot["context"]["tool_actions_last_hour"] == "2"


def test_the_budget_checks_fields_are_computed_when_the_agent_has_budgets(agent, gated):
    gated("allow")
    Agent.objects.filter(pk=agent.pk).update(budget_day_cost_usd=Decimal("5"))
    spend_charge(agent=agent, cost_usd=Decimal("5"), session_id=None, now=timezone.now())
    action = submit(agent, "a").action
    assert action.status == "denied" and "daily cost ceiling" in action.reason
    assert action.decision_snapshot["context"]["spend_today_usd"] == "5.000000"


def test_a_running_shadow_reads_the_fields_its_rules_need(agent, gated):
    policy = gated("allow")
    PolicyShadow.objects.create(
        tool=policy.tool,
        base_version=policy,
        rules_source='deny "spent" if context.spend_today_usd >= 1',
        rules=rules_parse('deny "spent" if context.spend_today_usd >= 1', policy.fields),
    )
    spend_charge(agent=agent, cost_usd=Decimal("2"), session_id=None, now=timezone.now())
    action = submit(agent, "a").action
    assert action.status == "allowed"
    assert action.decision_snapshot["context"]["spend_today_usd"] == "2.000000"
    decision = ShadowDecision.objects.get(action=action)
    assert (decision.status, decision.agreed) == ("denied", False)
