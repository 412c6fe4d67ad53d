"""Issue 18, item 6: the gate's own blocks count in the reports, beside (and labelled apart from)
the agents' self-reported blocks; denials on tier 3-4 tools form a near-miss register on the
portfolio (count per 1,000 actions, by rule)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from actions.models import ActionRequest
from actions.selectors import approval_queue_depth, gate_figures_by_agent, near_miss_register
from reports import services
from tests.factories import ToolFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db


def _req(agent, tool, key, status, source, *, rule=None, reason="", approvals=None, waited=None, now):
    decided = None if status == "pending" else now + (waited or timedelta(0))
    return ActionRequest(
        agent=agent,
        tool=tool,
        idempotency_key=key,
        fingerprint="f" * 64,
        status=status,
        source=source,
        rule_number=rule,
        rule_text=f"deny rule {rule}" if rule else "",
        reason=reason,
        required_approvals=approvals,
        expires_at=now + timedelta(minutes=15) if status == "pending" else None,
        decided_at=decided,
    )


@pytest.fixture
def history(agent):
    """Ten requests by ``agent``: 4 allowed, 3 automatic denials (2 on the tier-3 refund tool, by
    rule 1 and by the kill switch; 1 on a tier-2 tool), 3 sent to people (one still waiting, one
    approved after 10 minutes, one denied by a person after 20 minutes). Plus a self-reported block."""
    refund = ToolFactory(name="payments.refund", action_tier=3)
    reply = ToolFactory(name="tickets.reply", action_tier=2)
    now = timezone.now()
    rows = [_req(agent, reply, f"a{i}", "allowed", "policy_rule", now=now) for i in range(4)]
    rows += [
        _req(agent, refund, "d1", "denied", "policy_rule", rule=1, reason="too big", now=now),
        _req(agent, refund, "d2", "denied", "kill_switch", reason="side effects disabled", now=now),
        _req(agent, reply, "d3", "denied", "budget", reason="hard monthly budget cap reached", now=now),
        _req(agent, refund, "p1", "pending", "policy_rule", approvals=2, now=now),
        _req(agent, refund, "p2", "approved", "people", approvals=2, waited=timedelta(minutes=10), now=now),
        _req(agent, refund, "p3", "denied", "people", approvals=2, waited=timedelta(minutes=20), now=now),
    ]
    made = ActionRequest.objects.bulk_create(rows)
    # created_at is set on insert; the waits are measured from it, so place decided_at after it.
    for action in made:
        if action.decided_at is not None and action.required_approvals:
            minutes = 10 if action.status == "approved" else 20
            ActionRequest.objects.filter(pk=action.pk).update(decided_at=action.created_at + timedelta(minutes=minutes))
    agent.deployed_at = now - timedelta(days=60)
    agent.save()
    make_run(agent, started_at=now - timedelta(hours=1), policy_blocks=1)
    services.rollup_refresh()
    return agent


def test_gate_figures_count_automatic_blocks_approvals_and_the_wait(history):
    now = timezone.now()
    figures = gate_figures_by_agent(start=now - timedelta(days=1), end=now + timedelta(days=1), agent_ids=[history.pk])
    f = figures[history.pk]
    assert (f.actions, f.gate_blocks, f.approval_required, f.decided_by_people) == (10, 3, 3, 2)
    assert str(f.approval_required_pct) == "30.0"
    assert str(f.mean_wait_minutes) == "15.0"  # (10 + 20) / 2; a person's denial is not a gate block
    assert approval_queue_depth(agent_ids=[history.pk]) == 1


def test_the_near_miss_register_is_by_rule_per_thousand_actions(history):
    now = timezone.now()
    register, actions = near_miss_register(
        start=now - timedelta(days=1), end=now + timedelta(days=1), agent_ids=[history.pk]
    )
    assert actions == 10
    assert [(n.tool, n.tier, n.rule, n.count, str(n.per_thousand)) for n in register] == [
        ("payments.refund", 3, "rule 1: deny rule 1", 1, "100.0"),
        ("payments.refund", 3, "side effects disabled", 1, "100.0"),
    ]


def test_the_portfolio_shows_gate_blocks_apart_from_self_reported_ones(history, client, executive_user):
    client.force_login(executive_user)
    page = client.get("/reports/").text
    assert 'data-testid="table-gate"' in page and 'data-testid="table-near-misses"' in page
    assert "approval queue now: 1 waiting" in page
    rows = list(csv.DictReader(io.StringIO(client.get("/reports/?export=gate").content.decode())))
    row = next(r for r in rows if r["Agent"] == history.name)
    assert (row["Gate blocks"], row["Approval required %"], row["Policy blocks (self-reported)"]) == ("3", "30.0", "1")
    near = list(csv.DictReader(io.StringIO(client.get("/reports/?export=near-misses").content.decode())))
    assert {r["Rule or reason"] for r in near} == {"rule 1: deny rule 1", "side effects disabled"}
