"""The applying approval decision's SQL budget (issue 22, item 3).

The second approval of a pending runtime action (the commonest applying decision: every action a
rule sends to people) locks the request, checks eligibility, records the decision, approves,
applies and records the facts, and puts each of its four writes on the audit chain. Each audited
write costs four statements (django-auditlog's read of the old row, its LogEntry, the chain's
head lock and the chain entry), 16 of the total; the rest is the engine's own work."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.models import ApprovalRequest
from registry.models import GlobalControls

from .test_decisions import _approve, _pending

# 48 before this budget was tested; the goal of issue 22 is 12, unreachable while every audited
# write costs four statements (see the module docstring and docs/SCALING.md).
APPLYING_DECISION_MAX_STATEMENTS = 31


@pytest.mark.django_db
def test_the_applying_decision_stays_within_its_statement_budget(agent_client, refund_policy, support_managers):
    GlobalControls.load()  # a running system has the fleet row; creating it is not the decision's cost
    body, req = _pending(agent_client)
    _approve(req, support_managers[0])
    second = type(support_managers[1]).objects.get(pk=support_managers[1].pk)  # no cached groups
    with CaptureQueriesContext(connection) as ctx:
        _approve(req, second)
    statements = [q["sql"] for q in ctx.captured_queries]  # before a request resets the log
    assert ApprovalRequest.objects.get(pk=req.pk).status == "applied"
    assert agent_client.get(f"/api/v1/action-requests/{body['id']}/").json()["status"] == "approved"
    assert len(statements) <= APPLYING_DECISION_MAX_STATEMENTS, "\n".join(s[:120] for s in statements)
    # The cuts that made the budget, each pinned: one read of the approver's roles, one of the
    # decisions, no savepoint around the decision insert or the payload-only diff, one read of
    # the fleet switch, none of the checklist when nothing is open.
    assert sum(s.startswith('SELECT "auth_group"."name"') for s in statements) == 1
    assert sum(s.startswith('SELECT "approvals_decision"') for s in statements) == 1
    assert sum(s.startswith("SAVEPOINT") for s in statements) == 2  # the decision's and the apply's
    assert sum('FROM "registry_globalcontrols"' in s for s in statements) == 1
    assert not any(s.startswith('SELECT "approvals_checklistitem"') for s in statements)
