"""The gate's hot path (issue 22 item 3, issue 18 item 7): one read for the tool, its policy, the
fleet switch, the shadow, the grant and the context, and one write for the charge, the row and
its audit entry; the counts over recent requests only when
the rules (or a running shadow's) read them, and a rule reading one sees its right value while
the other is not computed. The statement count of an auto-allowed request is pinned."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actions.gate_store import allowed_action_write
from actions.language import rules_parse
from actions.models import ActionRequest, PolicyShadow, ShadowDecision
from actions.services import action_request_submit, policy_version_create
from registry.audit_chain import chain_entry, chain_verify
from registry.budgets import spend_charge, spend_charge_statement
from registry.models import Agent, AuditEntry, SpendCounter
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


def _own(queries) -> list[str]:
    """The statements the gate sent, without the savepoint the test's transaction adds."""
    return [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_an_auto_allowed_request_is_two_statements(agent, gated):
    """One read (tool, policy, fleet switch, shadow, grant and the context), then one write: the
    budget charge, the insert and the chain's append in one statement (actions/gate_store.py), so
    two round trips and no BEGIN/COMMIT; no second context query when no rule reads a count, no
    shadow query when none runs."""
    gated("allow if context.spend_today_usd < 100 and context.hour >= 0")
    submit(agent, "warm")
    fresh = Agent.objects.get(pk=agent.pk)
    with CaptureQueriesContext(connection) as queries:
        action = action_request_submit(agent=fresh, tool_name="tickets.reply", parameters={}, idempotency_key="k")
    assert action.action.status == "allowed"
    sql = _own(queries)
    assert "registry_spendcounter" in sql[0] and "actions_actionpolicyversion" in sql[0]
    assert len(sql) == 2, sql
    write = sql[1]
    assert write.startswith("WITH")  # no ceiling: no lock statement before it
    assert "INSERT INTO registry_spendcounter" in write and 'INSERT INTO "actions_actionrequest"' in write
    assert "registry_audit_chain_append" in write
    stored = ActionRequest.objects.get(pk=action.action.pk)
    assert (stored.status, stored.idempotency_key, stored.tool.name) == ("allowed", "k", "tickets.reply")
    entry = AuditEntry.objects.get(object_id=str(stored.pk))
    assert entry.action == "gate.allow" and entry.agent_id == agent.pk
    assert chain_verify().ok


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "client-side binding"])
def test_with_a_ceiling_the_agents_lock_goes_in_the_same_round_trip(agent, gated, settings, monkeypatch, prepared):
    """Prepared (registry/db_prepared.py): the lock and the write are two statements sent in one
    pipeline, so one round trip; without prepared statements, one simple query of two statements."""
    settings.DATABASE_PREPARED_STATEMENTS = prepared
    gated("allow")
    submit(agent, "warm")  # the policy version read once (see the next test)
    Agent.objects.filter(pk=agent.pk).update(budget_session_steps=20)
    fresh = Agent.objects.get(pk=agent.pk)
    pipelines = []
    pipeline = psycopg.Connection.pipeline
    monkeypatch.setattr(psycopg.Connection, "pipeline", lambda self: pipelines.append(1) or pipeline(self))
    with CaptureQueriesContext(connection) as queries:
        action = action_request_submit(
            agent=fresh, tool_name="tickets.reply", parameters={}, idempotency_key="k", session_id="s-1"
        )
    assert action.action.status == "allowed"
    sql = _own(queries)
    if prepared:
        assert len(sql) == 3 and sql[1].startswith("SELECT pg_advisory_xact_lock("), sql
        assert sql[2].startswith("WITH") and len(pipelines) == 1
    else:
        assert len(sql) == 2 and sql[1].startswith("SELECT pg_advisory_xact_lock("), sql
        assert not pipelines
    assert SpendCounter.objects.get(agent=agent, period="session", key="s-1").steps == 1


def test_a_charge_refused_in_the_write_stores_nothing(agent, gated):
    """A ceiling reached after the context was read: the one statement refuses the charge, and
    neither the row nor its audit entry is written (they hang on the charge's result)."""
    policy = gated("allow")
    Agent.objects.filter(pk=agent.pk).update(budget_session_steps=1)
    fresh = Agent.objects.get(pk=agent.pk)
    now = timezone.now()
    spend_charge(agent=fresh, cost_usd=Decimal("0"), session_id="s-1", now=now)
    head = AuditEntry.objects.count()
    row = ActionRequest(
        agent=fresh, tool=policy.tool, idempotency_key="late", fingerprint="0" * 64, parameters={},
        status="allowed", source="policy_rule", decided_at=now,
    )  # fmt: skip
    charge = allowed_action_write(
        action=row,
        entry=chain_entry(action="gate.allow", actor=fresh, agent=fresh, obj=row),
        charge=spend_charge_statement(agent=fresh, cost_usd=Decimal("1"), session_id="s-1", now=now),
    )
    assert (charge.charged, charge.refused) == (False, "session_steps")
    assert not ActionRequest.objects.filter(idempotency_key="late").exists()
    assert AuditEntry.objects.count() == head
    assert SpendCounter.objects.get(agent=agent, period="session", key="s-1").steps == 1
    # Through the gate the general path then answers the refusal.
    action = submit(agent, "after", session_id="s-1").action
    assert action.status == "denied" and action.source == "budget"


def test_a_key_taken_in_the_write_charges_nothing(agent, gated):
    """The idempotency key's unique constraint fails the one statement: the charge is undone with it."""
    policy = gated("allow")
    fresh = Agent.objects.get(pk=agent.pk)
    first = submit(agent, "same").action
    month = SpendCounter.objects.get(agent=agent, period="month").steps
    now = timezone.now()
    row = ActionRequest(
        agent=fresh, tool=policy.tool, idempotency_key="same", fingerprint="0" * 64, parameters={},
        status="allowed", source="policy_rule", decided_at=now,
    )  # fmt: skip
    with pytest.raises(IntegrityError):
        allowed_action_write(
            action=row,
            entry=chain_entry(action="gate.allow", actor=fresh, agent=fresh, obj=row),
            charge=spend_charge_statement(agent=fresh, cost_usd=Decimal("1"), session_id=None, now=now),
        )
    assert SpendCounter.objects.get(agent=agent, period="month").steps == month
    assert list(ActionRequest.objects.filter(idempotency_key="same")) == [first]
    assert chain_verify().ok


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


def test_a_policy_version_is_read_once_per_process_and_a_new_one_at_once(agent, gated):
    """Versions are immutable: the gate's query carries the policy's id only, and the process
    reads a version's row (rules, fields, sources) the first time it meets it, never again."""
    gated('deny "first" if note == "x"\nallow')

    def policy_reads(key, **params):
        with CaptureQueriesContext(connection) as queries:
            action = action_request_submit(
                agent=Agent.objects.get(pk=agent.pk), tool_name="tickets.reply", parameters=params, idempotency_key=key
            ).action
        reads = [q["sql"] for q in queries if '"actions_actionpolicyversion"."rules"' in q["sql"]]
        return action, reads

    action, reads = policy_reads("a", note="x")
    assert (action.status, action.reason, len(reads)) == ("denied", "first", 1)
    action, reads = policy_reads("b", note="x")
    assert (action.status, reads) == ("denied", [])
    second = gated('deny "second" if note == "x"\nallow')
    action, reads = policy_reads("c", note="x")
    assert (action.status, action.reason, action.policy_version_id, len(reads)) == ("denied", "second", second.pk, 1)
