"""Issue 18, item 5: budgets that act.

Per agent: a soft cap that alerts, a hard monthly cap with a configured action, per-session and
per-day ceilings; the spend counted from runs and gate decisions, atomically; at most one
request's overspend under 20 concurrent requests, the action applied once, the controls API
showing it; raising a cap is a two-person change."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from actions.models import ActionRequest
from actions.services import action_request_submit
from registry.budgets import budget_month_spend, period_keys, spend_charge
from registry.choices import BudgetAction
from registry.models import Agent, AuditEntry, BudgetBreach
from tests.factories import ToolFactory

from .conftest import grant_deployed

pytestmark = pytest.mark.django_db


@pytest.fixture
def tools(agent):
    """tickets.reply (tier 2, side effects, allowed by default) and kb.search (tier 0, read-only)."""
    grant_deployed(agent, ToolFactory(name="tickets.reply", action_tier=2))
    grant_deployed(agent, ToolFactory(name="kb.search", action_tier=0))


def caps(agent, **values) -> Agent:
    # A fixture shortcut past the governed door (the real path is a scope change: see the last test).
    Agent.objects.filter(pk=agent.pk).update(**values)
    return Agent.objects.get(pk=agent.pk)


def ask(agent, key, tool="tickets.reply", **extra):
    return action_request_submit(
        agent=Agent.objects.get(pk=agent.pk), tool_name=tool, parameters={}, idempotency_key=key, **extra
    ).action


def test_gate_decisions_and_runs_count_toward_the_spend(agent, tools):
    from telemetry.services import runs_ingest

    ask(agent, "a", cost_usd="1.25", session_id="s")
    ask(agent, "b", tool="kb.search", cost_usd="0.75")
    started = _now() - timedelta(minutes=1)
    results = runs_ingest(
        agent=agent,
        items=[
            {
                "run_id": "r1",
                "version_label": "1.0",
                "started_at": started.isoformat(),
                "ended_at": (started + timedelta(seconds=1)).isoformat(),
                "outcome": "resolved",
                "cost_usd": "2.00",
            }
        ],
    )
    assert results[0].status == "created"
    assert budget_month_spend(agent=agent) == Decimal("4.00")
    assert agent.spend_counters.get(period="session", key="s").steps == 1
    assert agent.spend_counters.get(period="day", key=period_keys(_now())[0]).steps == 2  # runs are not steps
    # A denied action is not charged.
    caps(agent, side_effects_enabled=False)
    ask(agent, "c", cost_usd="9")
    assert budget_month_spend(agent=agent) == Decimal("4.00")


def test_the_soft_cap_alerts_once(agent, tools, django_capture_on_commit_callbacks):
    caps(agent, monthly_budget_usd=Decimal("5"))
    with django_capture_on_commit_callbacks(execute=True):
        ask(agent, "a", cost_usd="4.99")
        ask(agent, "b", cost_usd="0.01")
        ask(agent, "c", cost_usd="3")
    # The e-mail channel's subject (registry.channel_delivery): "[Quorum] [<severity>] <title>".
    expected = f"[Quorum] [Warning] {agent.name} reached its monthly budget (5.00 USD) in {month()}"
    assert [m.subject for m in mail.outbox] == [expected]


def test_a_batch_of_runs_over_a_month_boundary_adds_to_each_period_in_one_round_trip(
    agent, django_capture_on_commit_callbacks
):
    """Runs counted per month and per day of their start (two months, three days here), in one
    statement; the soft cap alerts from the runs that cross it, once."""
    from datetime import UTC, datetime

    from registry.budgets import spend_add_runs

    agent = caps(agent, monthly_budget_usd=Decimal("5"))
    costs = [
        (datetime(2026, 10, 31, 23, 0, tzinfo=UTC), Decimal("1.50")),
        (datetime(2026, 11, 1, 1, 0, tzinfo=UTC), Decimal("2.00")),
        (datetime(2026, 11, 2, 9, 0, tzinfo=UTC), Decimal("3.25")),
        (datetime(2026, 11, 2, 10, 0, tzinfo=UTC), Decimal("0")),
    ]
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        spend_add_runs(agent=agent, costs=costs)
    counters = {(c.period, c.key): c.cost_usd for c in agent.spend_counters.all()}
    expected = {}
    for started, cost in costs[:3]:
        day, month_key = period_keys(started)
        expected[("month", month_key)] = expected.get(("month", month_key), Decimal("0")) + cost
        expected[("day", day)] = expected.get(("day", day), Decimal("0")) + cost
    assert counters == expected and len(expected) == 5
    assert len([q for q in queries.captured_queries if "spend" in q["sql"].lower()]) == 1
    assert len(mail.outbox) == 1 and "reached its monthly budget" in mail.outbox[0].subject
    spend_add_runs(agent=agent, costs=costs[2:3])  # already over: no second alert
    assert len(mail.outbox) == 1


def month():
    from django.utils import timezone

    from registry.budgets import period_keys

    return period_keys(timezone.now())[1]


@pytest.mark.parametrize(
    ("ceiling", "first", "reason"),
    [
        ({"budget_session_steps": 20}, {}, "session step ceiling: 20 steps per session already taken"),
        ({"budget_day_steps": 20}, {}, "daily step ceiling: 20 steps already taken today"),
    ],
)
def test_step_ceilings_deny_the_21st(agent, tools, ceiling, first, reason):
    caps(agent, **ceiling)
    assert {ask(agent, f"k{i}", session_id="s").status for i in range(20)} == {"allowed"}
    step21 = ask(agent, "k21", session_id="s")
    assert (step21.status, step21.source, step21.reason) == ("denied", "budget", reason)


def test_cost_ceilings_hold_exactly_at_the_ceiling(agent, tools):
    caps(agent, budget_session_cost_usd=Decimal("5"), budget_day_cost_usd=Decimal("8"))
    assert ask(agent, "a", session_id="s1", cost_usd="4.99").status == "allowed"
    assert ask(agent, "b", session_id="s1", cost_usd="0.01").status == "allowed"  # under: goes ahead
    assert ask(agent, "c", session_id="s1").reason == "session cost ceiling: 5.00 USD per session already spent"
    assert ask(agent, "d", session_id="s2", cost_usd="3").status == "allowed"  # 8.00 today now
    assert ask(agent, "e", session_id="s3").reason == "daily cost ceiling: 8.00 USD already spent today"


def test_hard_cap_deny_side_effects_spares_read_only_tools(agent, tools, django_capture_on_commit_callbacks):
    caps(agent, budget_hard_cap_usd=Decimal("10"), budget_hard_cap_action=BudgetAction.DENY_SIDE_EFFECTS)
    with django_capture_on_commit_callbacks(execute=True):
        assert ask(agent, "a", cost_usd="9.99").status == "allowed"
        assert ask(agent, "b", cost_usd="5").status == "allowed"  # under the cap before it: the one crossing
        denied = ask(agent, "c", cost_usd="1")
        read = ask(agent, "d", tool="kb.search")
    assert (denied.status, denied.source) == ("denied", "budget")
    assert denied.reason == "hard monthly budget cap reached: side effects denied"
    assert read.status == "allowed"
    assert budget_month_spend(agent=agent) == Decimal("14.99")
    assert BudgetBreach.objects.get(agent=agent).action == "deny_side_effects"
    assert [m.subject for m in mail.outbox] == [f"[Quorum] [Critical] {agent.name} reached its hard monthly cap"]


def test_hard_cap_require_approval_sends_every_action_to_people(agent, tools):
    caps(agent, budget_hard_cap_usd=Decimal("1"), budget_hard_cap_action=BudgetAction.REQUIRE_APPROVAL)
    spend_charge(agent=Agent.objects.get(pk=agent.pk), cost_usd=Decimal("1"), session_id=None, now=_now())
    pending = ask(agent, "a", tool="kb.search")
    assert (pending.status, pending.source, pending.required_approvals) == ("pending", "budget", 1)
    assert pending.approval_request is not None


def _now():
    from django.utils import timezone

    return timezone.now()


def test_the_controls_api_and_the_agent_card_show_the_cap(agent, tools, agent_client, client, owner_user):
    caps(agent, budget_hard_cap_usd=Decimal("1"), monthly_budget_usd=Decimal("0.5"))
    before = agent_client.get("/api/v1/controls/").json()["budget"]
    ask(agent, "a", cost_usd="1")
    after = agent_client.get("/api/v1/controls/").json()["budget"]
    assert (before["hard_cap_reached"], before["soft_cap_reached"]) == (False, False)
    assert (after["hard_cap_reached"], after["soft_cap_reached"]) == (True, True)
    assert after["hard_cap_action"] == "deny_side_effects"
    client.force_login(owner_user)
    page = client.get(f"/agents/{agent.slug}/").content.decode()
    assert 'data-testid="hard-cap-reached"' in page
    assert "1.00 USD spent" in page


def test_an_agent_with_ceilings_still_meets_its_hard_cap(agent, tools):
    """The ceilings' charge checks the hard cap too (after the ceilings): refused as the cap, and the
    gate applies the cap's action and records the breach."""
    agent = caps(agent, budget_session_steps=100, budget_hard_cap_usd=Decimal("2"))
    assert spend_charge(agent=agent, cost_usd=Decimal("2"), session_id="s", now=_now()).charged
    refused = spend_charge(agent=agent, cost_usd=Decimal("1"), session_id="s", now=_now())
    assert (refused.charged, refused.refused, refused.month_usd) == (False, "hard_cap", Decimal("2"))
    denied = ask(agent, "a", session_id="s")
    assert (denied.status, denied.source) == ("denied", "budget")
    assert denied.reason == "hard monthly budget cap reached: side effects denied"
    assert BudgetBreach.objects.filter(agent=agent).count() == 1


def test_the_controls_api_and_the_agent_card_show_a_daily_ceiling_hit(agent, tools, agent_client, client, owner_user):
    """The ceilings are listed; once today's steps reach the daily ceiling the controls API says so
    (``day_ceiling_reached``, which one) and the card shows today's spend and the hit."""
    caps(agent, budget_day_steps=2, budget_session_cost_usd=Decimal("5"))
    before = agent_client.get("/api/v1/controls/").json()["budget"]
    assert (before["day_step_ceiling"], before["session_cost_ceiling_usd"]) == (2, "5.00")
    assert before["day_ceiling_reached"] is False
    ask(agent, "a", cost_usd="0.25")
    ask(agent, "b")
    after = agent_client.get("/api/v1/controls/").json()["budget"]
    assert (after["day_ceiling_reached"], after["day_step_ceiling_reached"], after["day_cost_ceiling_reached"]) == (
        True,
        True,
        False,
    )
    assert ask(agent, "c").reason == "daily step ceiling: 2 steps already taken today"
    client.force_login(owner_user)
    page = client.get(f"/agents/{agent.slug}/").content.decode()
    assert "Today: 0.25 USD, 2 steps." in page
    assert 'data-testid="day-ceiling-reached"' in page
    assert "Daily step ceiling reached: every action is denied until the day turns" in page
    assert "2 steps a day" in page and "5.00 USD a session" in page


def test_raising_a_cap_is_a_two_person_scope_change(agent, owner_user):
    from approvals.kinds import kind_get
    from approvals.services import request_create
    from registry.governance import SCOPE_CHANGE, governed_kind_for

    for name in ("budget_hard_cap_usd", "budget_hard_cap_action", "budget_session_steps", "budget_day_cost_usd"):
        assert governed_kind_for(Agent, name) == SCOPE_CHANGE
    assert kind_get(SCOPE_CHANGE).min_approvals == 2
    request = request_create(
        agent=agent,
        kind=SCOPE_CHANGE,
        payload={"budget_hard_cap_usd": "500", "budget_session_steps": 20},
        requester=owner_user,
        justification="Peak season.",
    )
    assert request.payload["changes"]["budget_hard_cap_usd"] == {"from": "0.00", "to": "500.00"}
    assert request.payload["changes"]["budget_session_steps"] == {"from": 0, "to": 20}
    assert Agent.objects.get(pk=agent.pk).budget_hard_cap_usd == 0  # nothing until two people approve


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_overspend_at_most_one_and_pull_the_switch_once(gate_reseeded, agent, agent_key):
    """GIVEN a hard cap of 10 USD with the kill switch as its action and 20 requests of 3 USD on 20
    connections released together, THEN 4 go ahead (9 < 10 before the 4th: 12 spent, 2 over, less
    than one request), 16 are denied, the switch is pulled, one incident, one breach, one chain
    entry, and the controls API says so."""
    from incidents.models import Incident

    grant_deployed(agent, ToolFactory(name="tickets.reply", action_tier=2))
    caps(agent, budget_hard_cap_usd=Decimal("10"), budget_hard_cap_action=BudgetAction.KILL_SWITCH)
    barrier = threading.Barrier(20)
    results, errors = [], []

    def one(i):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
            barrier.wait(timeout=20)
            body = {"tool": "tickets.reply", "idempotency_key": f"c-{i}", "parameters": {}, "cost_usd": "3"}
            results.append(client.post("/api/v1/action-requests/", body, format="json").json())
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
    assert sorted(r["status"] for r in results) == ["allowed"] * 4 + ["denied"] * 16
    spend = budget_month_spend(agent=agent)
    assert spend == Decimal("12")
    assert spend - Decimal("10") <= Decimal("3")
    assert ActionRequest.objects.filter(status="allowed").count() == 4
    assert BudgetBreach.objects.filter(agent=agent).count() == 1
    assert Incident.objects.filter(agent=agent).count() == 1
    assert AuditEntry.objects.filter(action="killswitch.pull", agent_id=agent.pk).count() == 1
    controls = APIClient()
    controls.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
    body = controls.get("/api/v1/controls/").json()
    assert body["side_effects_enabled"] is False
    assert body["budget"]["hard_cap_reached"] is True
    assert body["budget"]["hard_cap_action"] == "kill_switch"


def _race(agent_key, body, n=20):
    """``n`` POSTs of ``body`` (each with its own idempotency key) on ``n`` connections released
    together; their answers."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def one(i):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
            barrier.wait(timeout=20)
            payload = {**body, "idempotency_key": f"r-{i}"}
            results.append(client.post("/api/v1/action-requests/", payload, format="json"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert [r.status_code for r in results] == [201] * n
    return [r.json() for r in results]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("ceiling", "taken", "body", "reason", "counter"),
    [
        (
            {"budget_session_steps": 20},
            {"steps": 19, "session_id": "s", "cost_usd": Decimal("0")},
            {"session_id": "s"},
            "session step ceiling: 20 steps per session already taken",
            ("session", "s", "steps", 20),
        ),
        (
            {"budget_session_cost_usd": Decimal("10")},
            {"steps": 1, "session_id": "s", "cost_usd": Decimal("9")},
            {"session_id": "s", "cost_usd": "3"},
            "session cost ceiling: 10.00 USD per session already spent",
            ("session", "s", "cost_usd", Decimal("12")),
        ),
        (
            {"budget_day_cost_usd": Decimal("10")},
            {"steps": 1, "session_id": None, "cost_usd": Decimal("9")},
            {"cost_usd": "3"},
            "daily cost ceiling: 10.00 USD already spent today",
            ("day", None, "cost_usd", Decimal("12")),
        ),
        (
            {"budget_day_steps": 20},
            {"steps": 19, "session_id": None, "cost_usd": Decimal("0")},
            {"session_id": "fresh"},
            "daily step ceiling: 20 steps already taken today",
            ("day", None, "steps", 20),
        ),
    ],
    ids=["session-steps", "session-cost", "day-cost", "day-steps"],
)
def test_twenty_concurrent_requests_at_a_ceiling_let_exactly_one_through(
    gate_reseeded, agent, agent_key, ceiling, taken, body, reason, counter
):
    """GIVEN a ceiling one step (or one request) from reached — 19 of a session's (or a day's) 20
    steps taken, or 9 of its 10 USD spent — and 20 requests on 20 connections released together,
    THEN exactly one goes ahead (the context each read was stale for 19 of them: the atomic charge
    refuses them) and 19 are denied by the budget naming the ceiling; the counter moved once."""
    grant_deployed(agent, ToolFactory(name="tickets.reply", action_tier=2))
    agent = caps(agent, **ceiling)
    assert spend_charge(agent=agent, now=_now(), **taken).charged
    answers = _race(agent_key, {"tool": "tickets.reply", "parameters": {}, **body})
    assert sorted(a["status"] for a in answers) == ["allowed"] + ["denied"] * 19
    denied = [a for a in answers if a["status"] == "denied"]
    assert {(a["decision"]["source"], a["decision"]["reason"]) for a in denied} == {("budget", reason)}
    period, key, field, expected = counter
    row = agent.spend_counters.get(period=period, key=key or period_keys(_now())[0])
    assert getattr(row, field) == expected
    assert ActionRequest.objects.filter(status="allowed").count() == 1


def test_the_charge_refuses_at_a_ceiling_and_charges_nothing(agent):
    """The charge itself (not only the context read) refuses at a ceiling, all or nothing: no month,
    day or session row moves; without ``enforce_ceilings`` it charges."""
    agent = caps(agent, budget_session_steps=2, budget_day_cost_usd=Decimal("5"))
    now = _now()
    assert spend_charge(agent=agent, cost_usd=Decimal("1"), session_id="s", now=now, steps=2).charged
    refused = spend_charge(agent=agent, cost_usd=Decimal("1"), session_id="s", now=now)
    assert (refused.charged, refused.refused, refused.month_usd) == (False, "session_steps", Decimal("1"))
    assert spend_charge(agent=agent, cost_usd=Decimal("4"), session_id="t", now=now).charged  # 1 < 5: the crossing
    refused = spend_charge(agent=agent, cost_usd=Decimal("1"), session_id="u", now=now)
    assert (refused.charged, refused.refused) == (False, "day_cost")
    counters = {(c.period, c.key): (c.cost_usd, c.steps) for c in agent.spend_counters.all()}
    day, month = period_keys(now)
    assert counters == {
        ("month", month): (Decimal("5"), 3),
        ("day", day): (Decimal("5"), 3),
        ("session", "s"): (Decimal("1"), 2),
        ("session", "t"): (Decimal("4"), 1),
    }
    assert spend_charge(agent=agent, cost_usd=Decimal("1"), session_id="s", now=now, enforce_ceilings=False).charged


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"budget_hard_cap_usd": "-1"}, "budget_hard_cap_usd"),
        ({"budget_hard_cap_usd": "lots"}, "budget_hard_cap_usd"),
        ({"budget_hard_cap_action": "explode"}, "budget_hard_cap_action"),
        ({"budget_session_steps": "2.5"}, "budget_session_steps"),
        ({"budget_day_steps": -3}, "budget_day_steps"),
    ],
)
def test_a_bad_cap_is_refused_naming_the_field_and_changes_nothing(agent, owner_user, payload, field):
    from django.core.exceptions import ValidationError

    from approvals.models import ApprovalRequest
    from approvals.services import request_create
    from registry.governance import SCOPE_CHANGE

    with pytest.raises(ValidationError) as exc:
        request_create(agent=agent, kind=SCOPE_CHANGE, payload=payload, requester=owner_user, justification="x")
    assert field in exc.value.message_dict
    assert not ApprovalRequest.objects.exists()


def test_the_kill_switch_at_the_cap_locks_the_agent_without_blocking_rows_that_reference_it(agent):
    """GIVEN the hard cap's kill switch being pulled, THEN every lock it takes on the agent's row is
    FOR NO KEY UPDATE: it excludes other changes to the agent, but not an action or span being
    stored for it (their foreign key's key-share lock). FOR UPDATE made those wait, and with the
    audit chain's lock on the other side the race above deadlocked (CI, stop 28)."""
    from registry.budgets import hard_cap_reached

    agent = caps(agent, budget_hard_cap_usd=Decimal("10"), budget_hard_cap_action=BudgetAction.KILL_SWITCH)
    with CaptureQueriesContext(connection) as queries:
        assert hard_cap_reached(agent=agent, spend_usd=Decimal("12"), now=_now()) is not None
    locks = [q["sql"] for q in queries if 'FROM "registry_agent"' in q["sql"] and "FOR " in q["sql"]]
    assert len(locks) >= 2  # the budget's own lock and agent_controls_update's
    assert all(sql.endswith("FOR NO KEY UPDATE") for sql in locks), locks
    assert Agent.objects.get(pk=agent.pk).side_effects_enabled is False
