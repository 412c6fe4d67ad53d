"""Issue 18, item 4: rules read a typed ``context.`` namespace, computed once per request.

Each context field is used in a rule, with its boundary: midnight in the configured zone, spend
exactly at the cap, the 21st step of a session, an hour ago to the second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actions.context import RequestContext, context_compute, context_from_snapshot
from actions.language import PolicySyntaxError, rules_parse
from actions.models import ActionRequest
from actions.services import ActionInputError, action_request_submit, policy_version_create
from registry.budgets import spend_charge
from registry.models import Agent
from tests.factories import ToolFactory, UserFactory

from .conftest import grant_deployed

pytestmark = pytest.mark.django_db

FIELDS = {"note": {"type": "string", "required": False, "choices": []}}


@pytest.fixture
def gated(agent, board_user):
    """``agent`` granted tickets.reply (tier 2: allowed by default); ``rule(text)`` saves a policy."""
    tool = ToolFactory(name="tickets.reply", action_tier=2)
    grant_deployed(agent, tool)

    def rule(text):
        return policy_version_create(
            tool=tool, fields_source="note: string optional", rules_source=text, actor=board_user
        )

    return rule


def ask(agent, key, now=None, **extra):
    result = action_request_submit(
        agent=Agent.objects.get(pk=agent.pk),
        tool_name="tickets.reply",
        parameters={},
        idempotency_key=key,
        now=now,
        **extra,
    )
    return result.action


# --- the type checker knows every field --------------------------------------------------------


def test_an_unknown_context_field_is_refused_with_its_column_and_the_known_ones():
    with pytest.raises(PolicySyntaxError) as exc:
        rules_parse('deny "x" if context.moon_phase == 1', FIELDS)
    assert exc.value.column == 13
    assert "unknown context field 'context.moon_phase'" in exc.value.message
    assert "context.spend_today_usd" in exc.value.message


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("deny \"x\" if context.hour == 'noon'", "cannot compare a number with a string"),
        ("deny \"x\" if context.weekday == 'funday'", "'funday' is not one of the values"),
        ('deny "x" if context.environment < 3', "cannot compare"),
        ('deny "x" if context.spend_month_usd', "not a condition"),
    ],
)
def test_context_fields_are_typed(rule, message):
    with pytest.raises(PolicySyntaxError) as exc:
        rules_parse(rule, FIELDS)
    assert message in exc.value.message


def test_context_is_one_query(agent, gated):
    tool = ToolFactory(name="kb.search", action_tier=0)
    with CaptureQueriesContext(connection) as queries:
        values = context_compute(
            agent=agent, tool=tool, request=RequestContext(session_id="s", on_behalf_of="ann"), now=timezone.now()
        )
    assert len(queries) == 1
    assert values["context.session_step"] == 1
    assert values["context.active_incident"] is False


def test_the_gate_reads_the_context_with_its_policy_query(agent, gated):
    """Policy, fleet switch and context: one query, no separate read of the agent or its counters."""
    gated("allow if context.spend_today_usd < 100 and context.session_step < 20")
    ask(agent, "warm", session_id="s")
    fresh = Agent.objects.get(pk=agent.pk)
    with CaptureQueriesContext(connection) as queries:
        action = action_request_submit(
            agent=fresh, tool_name="tickets.reply", parameters={}, idempotency_key="b", session_id="s", cost_usd="1"
        ).action
    assert action.status == "allowed"
    assert action.decision_snapshot["context"]["session_step"] == "2"
    sql = [q["sql"] for q in queries]
    # One read of the spend counters, and it is the policy query's (a shadow policy, when one runs,
    # reads its own rows after the decision).
    reads = [q for q in sql if q.startswith("SELECT") and "registry_spendcounter" in q]
    assert len(reads) == 1 and 'FROM "actions_actionpolicyversion"' in reads[0]
    assert not any(q.startswith('SELECT "registry_agent"') for q in sql)


# --- each field in a rule -----------------------------------------------------------------------


def test_agent_tier_environment_and_data_classification(agent, gated):
    gated(
        "deny \"tier 3 in production\" if context.agent_tier == 3 and context.environment == 'production'\n"
        "deny \"regulated data\" if context.data_classification == 'regulated'"
    )
    Agent.objects.filter(pk=agent.pk).update(risk_tier=2, status="production", data_classification="internal")
    assert ask(agent, "a").status == "allowed"
    Agent.objects.filter(pk=agent.pk).update(risk_tier=3)
    assert ask(agent, "b").reason == "tier 3 in production"
    Agent.objects.filter(pk=agent.pk).update(risk_tier=2, data_classification="regulated")
    assert ask(agent, "c").reason == "regulated data"


def test_active_incident(agent, gated):
    from incidents.models import Incident
    from incidents.services import incident_open_or_link

    gated('deny "incident open" if context.active_incident')
    assert ask(agent, "a").status == "allowed"
    incident, _ = incident_open_or_link(
        agent=agent, severity="sev3", title="t", failure_mode="unclassified", detection_source="person"
    )
    assert ask(agent, "b").reason == "incident open"
    Incident.objects.filter(pk=incident.pk).update(status="resolved", resolved_at=timezone.now())
    assert ask(agent, "c").status == "allowed"


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Europe/Paris is UTC+1 in November: 22:59:59 UTC is 23:59:59 on Monday there, 23:00 is Tuesday's midnight.
        (datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC), "allowed"),
        (datetime(2026, 11, 30, 23, 0, 0, tzinfo=UTC), "denied"),
        (datetime(2026, 12, 1, 4, 59, 59, tzinfo=UTC), "denied"),
        (datetime(2026, 12, 1, 5, 0, 0, tzinfo=UTC), "allowed"),
    ],
)
def test_time_of_day_and_weekday_in_the_configured_zone(agent, gated, settings, utc, expected):
    settings.ACTIONS_CONTEXT_TIME_ZONE = "Europe/Paris"
    gated("deny \"not at night on a Tuesday\" if context.weekday == 'tue' and context.hour < 6")
    action = ask(agent, f"t-{utc.timestamp()}", now=utc)
    assert action.status == expected
    assert action.decision_snapshot["context"]["weekday"] == ("mon" if utc.hour == 22 else "tue")


def test_minute_of_day(agent, gated, settings):
    settings.ACTIONS_CONTEXT_TIME_ZONE = "UTC"
    gated('deny "after 17:30" if context.minute_of_day >= 1050')
    assert ask(agent, "a", now=datetime(2026, 11, 30, 17, 29, 59, tzinfo=UTC)).status == "allowed"
    assert ask(agent, "b", now=datetime(2026, 11, 30, 17, 30, tzinfo=UTC)).status == "denied"


def test_on_behalf_of_and_whether_that_user_is_an_approver(agent, gated):
    UserFactory(username="ann", email="ann@example.com", roles=["Approver"])
    UserFactory(username="bob")
    gated(
        'deny "an approver cannot ask through an agent" if context.on_behalf_of_is_approver\n'
        "deny \"mallory is blocked\" if context.on_behalf_of == 'mallory'\n"
        "allow if context.on_behalf_of == 'bob'\n"
        'require 1 approval from "Approver"'
    )
    assert ask(agent, "a", on_behalf_of="ANN@example.com").reason == "an approver cannot ask through an agent"
    assert ask(agent, "b", on_behalf_of="mallory").reason == "mallory is blocked"
    assert ask(agent, "c", on_behalf_of="bob").status == "allowed"
    # Not sent: a comparison with it is false, so the last rule decides.
    assert ask(agent, "d").status == "pending"


def test_spend_today_and_this_month_exactly_at_the_cap(agent, gated, settings):
    settings.ACTIONS_CONTEXT_TIME_ZONE = "UTC"
    gated('deny "ten dollars a day" if context.spend_today_usd >= 10\ndeny "month" if context.spend_month_usd >= 100')
    # Fixed days, mid-month and then over the month's end: the test reads the same on any date it runs.
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    spend_charge(agent=agent, cost_usd=Decimal("9.99"), session_id=None, now=now)
    assert ask(agent, "a", now=now).status == "allowed"
    spend_charge(agent=agent, cost_usd=Decimal("0.01"), session_id=None, now=now)
    action = ask(agent, "b", now=now)
    assert action.reason == "ten dollars a day"
    assert action.decision_snapshot["context"]["spend_today_usd"] == "10.000000"
    # Yesterday's spend is not today's, but it is this month's.
    day2, day3 = now + timedelta(days=1), now + timedelta(days=2)
    assert ask(agent, "c", now=day2).status == "allowed"
    spend_charge(agent=agent, cost_usd=Decimal("9"), session_id=None, now=day2)
    spend_charge(agent=agent, cost_usd=Decimal("9"), session_id=None, now=day3)
    assert ask(agent, "d", now=day3).status == "allowed"  # 9 today, 28 this month
    spend_charge(agent=agent, cost_usd=Decimal("72"), session_id=None, now=now - timedelta(days=5))  # Nov 22
    assert ask(agent, "e", now=day3).reason == "month"  # 9 today, exactly 100 this month
    # December's first day starts a new month (and a new day).
    assert ask(agent, "f", now=datetime(2026, 12, 1, 0, 0, tzinfo=UTC)).status == "allowed"


def test_actions_on_this_tool_in_the_last_hour_and_day(agent, gated):
    gated(
        'deny "two an hour" if context.tool_actions_last_hour >= 2\n'
        'deny "three a day" if context.tool_actions_last_day >= 3'
    )
    assert ask(agent, "a").status == "allowed"
    assert ask(agent, "b").status == "allowed"
    assert ask(agent, "c").reason == "two an hour"
    # Denied requests do not count: an hour and a second later the two are out of the hour, not the day.
    later = timezone.now() + timedelta(hours=1, seconds=1)
    assert ask(agent, "d", now=later).status == "allowed"
    assert ask(agent, "e", now=later).reason == "three a day"


def test_the_21st_step_of_a_session_and_its_cost(agent, gated):
    gated(
        'deny "20 steps a session" if context.session_step > 20\n'
        'deny "5 dollars a session" if context.session_cost_usd >= 5'
    )
    statuses = [ask(agent, f"s-{i}", session_id="sess-1").status for i in range(1, 21)]
    assert statuses == ["allowed"] * 20
    step21 = ask(agent, "s-21", session_id="sess-1")
    assert (step21.status, step21.reason) == ("denied", "20 steps a session")
    assert step21.decision_snapshot["context"]["session_step"] == "21"
    # Another session starts at step 1; cost: 4.99 then exactly 5.
    assert ask(agent, "t-1", session_id="sess-2", cost_usd="4.99").status == "allowed"
    assert ask(agent, "t-2", session_id="sess-2", cost_usd="0.01").status == "allowed"
    assert ask(agent, "t-3", session_id="sess-2").reason == "5 dollars a session"
    # Without a session id, session rules never fire.
    assert ask(agent, "u-1").status == "allowed"


def test_the_snapshot_holds_the_context_the_decision_used(agent, gated):
    gated("deny \"production only\" if context.environment != 'production'")
    action = ask(agent, "a", session_id="s-9", on_behalf_of="zed")
    stored = action.decision_snapshot["context"]
    assert stored["on_behalf_of"] == "zed"
    assert stored["session_step"] == "1"
    values = context_from_snapshot(action.decision_snapshot)
    assert values["context.session_step"] == Decimal(1)
    assert values["context.environment"] == action.agent.status


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"session_id": "x" * 101}, "session_id"),
        ({"session_id": 7}, "session_id"),
        ({"on_behalf_of": "a\nb"}, "on_behalf_of"),
        ({"cost_usd": -1}, "cost_usd"),
        ({"cost_usd": "NaN"}, "cost_usd"),
        ({"cost_usd": True}, "cost_usd"),
    ],
)
def test_bad_context_input_is_refused_and_stores_nothing(agent, gated, extra, field):

    with pytest.raises(ActionInputError) as exc:
        ask(agent, "bad", **extra)
    assert [e["field"] for e in exc.value.errors] == [field]
    assert not ActionRequest.objects.exists()


def test_the_api_takes_session_on_behalf_of_and_cost(agent, agent_client, gated):
    gated('deny "20 steps" if context.session_step > 1')
    body = {"tool": "tickets.reply", "parameters": {}, "session_id": "s", "on_behalf_of": "ann", "cost_usd": "0.5"}
    first = agent_client.post("/api/v1/action-requests/", {**body, "idempotency_key": "a"}, format="json")
    second = agent_client.post("/api/v1/action-requests/", {**body, "idempotency_key": "b"}, format="json")
    bad = agent_client.post(
        "/api/v1/action-requests/", {**body, "idempotency_key": "c", "cost_usd": "x"}, format="json"
    )
    assert (first.status_code, first.json()["status"]) == (201, "allowed")
    assert second.json()["decision"]["reason"] == "20 steps"
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "cost_usd")


def test_a_backtest_replays_the_context_the_gate_recorded(agent, gated):
    """Helper 1's backtest reads ``decision_snapshot["context"]``: numbers come back as numbers."""
    from actions.backtest import policy_backtest
    from actions.language import fields_parse

    gated("allow")
    now = timezone.now()
    ask(agent, "a", now=now)
    spend_charge(agent=agent, cost_usd=Decimal("10"), session_id=None, now=now)
    ask(agent, "b", now=now)
    fields = fields_parse("note: string optional")
    rules = rules_parse('deny "ten a day" if context.spend_today_usd >= 10\nallow', fields)
    tool = ActionRequest.objects.get(idempotency_key="a").tool
    result = policy_backtest(
        tool=tool, fields=fields, rules=rules, start=now - timedelta(hours=1), end=timezone.now() + timedelta(hours=1)
    )
    assert result.transitions == {("allow", "deny"): 1}
    assert result.context_lacking == {}


def test_canary_traffic_and_steps_today(agent, gated):
    from registry.models import ToolGrant
    from tests.factories import AgentVersionFactory

    policy = gated('deny "not on the canary" if context.canary\ndeny "three a day" if context.steps_today >= 3')
    canary = AgentVersionFactory(agent=agent, label="2.0", state="approved")
    ToolGrant.objects.bulk_create([ToolGrant(version=canary, tool=policy.tool, constraints={})])
    Agent.objects.filter(pk=agent.pk).update(canary_version=canary, canary_share_pct=10)
    assert ask(agent, "c", version="2.0").reason == "not on the canary"
    assert [ask(agent, f"d{i}").status for i in range(4)] == ["allowed", "allowed", "allowed", "denied"]
