"""Issue 22, a cheaper agent path: a clean run is stored, with its spend, in one SQL statement once
the agent's governance read is cached in the process; the cache never decides a finding alone (a
version or grant changed since is seen by the very next run); the spend counts each stored run once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.budgets import budget_month_spend, period_keys
from registry.choices import VersionState
from registry.models import Agent, AlertRecord, ToolGrant
from telemetry.models import ComplianceViolation, Run
from telemetry.services import runs_ingest
from tests.factories import AgentVersionFactory

pytestmark = pytest.mark.django_db


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [" ".join(q["sql"].split())[:11] for q in queries.captured_queries]


def test_a_clean_run_is_one_statement_once_the_governance_read_is_cached(agent, run_payload):
    # A new agent is in no process's cache: its first ingest reads the governance, then stores.
    with CaptureQueriesContext(connection) as first:
        [created] = runs_ingest(agent=agent, items=[run_payload()])
    with CaptureQueriesContext(connection) as second:
        [next_one] = runs_ingest(agent=agent, items=[run_payload()])
    assert (created.status, next_one.status) == ("created", "created")
    assert _statements(first) == ["WITH gov AS", "WITH gov AS"]
    # Governance check, insert and spend upsert in one statement; no BEGIN/COMMIT around it.
    assert _statements(second) == ["WITH gov AS"]
    assert Run.objects.filter(agent=agent).count() == 2


def test_a_grant_withdrawn_after_the_read_was_cached_is_a_violation_on_the_next_run(
    agent, run_payload, deployed_version
):
    [before] = runs_ingest(agent=agent, items=[run_payload(tools_used=["tickets.read"])])
    assert before.violations == []
    ToolGrant.objects.filter(version=deployed_version, tool__name="tickets.read").delete()
    [after] = runs_ingest(agent=agent, items=[run_payload(run_id="after", tools_used=["tickets.read"])])
    assert (after.status, after.violations) == ("created", ["ungranted_tool"])
    violation = ComplianceViolation.objects.get(agent=agent)
    assert (violation.kind, violation.first_run_id) == ("ungranted_tool", "after")


def test_a_version_approved_after_the_read_was_cached_is_clean_on_the_next_run(agent, run_payload):
    draft = AgentVersionFactory(agent=agent, label="2.0", model_name="gpt-4o")
    [unapproved] = runs_ingest(agent=agent, items=[run_payload(version_label="2.0", tools_used=[])])
    assert unapproved.violations == ["unapproved_version"]
    draft.state = VersionState.APPROVED
    draft.save()
    [approved] = runs_ingest(agent=agent, items=[run_payload(version_label="2.0", tools_used=[])])
    assert (approved.status, approved.violations) == ("created", [])
    assert Run.objects.get(run_id=approved.run_id).version == draft
    assert ComplianceViolation.objects.get(agent=agent).run_count == 1


def test_the_spend_counts_each_stored_run_once_and_a_free_run_not_at_all(agent, run_payload):
    paid = run_payload(cost_usd="0.500000")
    assert runs_ingest(agent=agent, items=[paid])[0].status == "created"
    assert runs_ingest(agent=agent, items=[paid])[0].status == "duplicate"
    # A batch: a replay of the same run, a new one, and one that costs nothing.
    results = runs_ingest(agent=agent, items=[paid, run_payload(cost_usd="0.25"), run_payload(cost_usd="0")])
    assert [r.status for r in results] == ["duplicate", "created", "created"]
    day, month = period_keys(Run.objects.get(run_id=paid["run_id"]).started_at)
    counters = {(c.period, c.key): c.cost_usd for c in agent.spend_counters.all()}
    assert counters == {("month", month): Decimal("0.75"), ("day", day): Decimal("0.75")}
    assert budget_month_spend(agent=agent) == Decimal("0.75")


def test_the_run_crossing_the_soft_cap_opens_the_budget_alert(agent, run_payload, django_capture_on_commit_callbacks):
    Agent.objects.filter(pk=agent.pk).update(monthly_budget_usd=Decimal("1"))
    agent = Agent.objects.get(pk=agent.pk)
    alerts = AlertRecord.objects.filter(dedup_key__startswith=f"budget-soft:{agent.pk}:")
    with django_capture_on_commit_callbacks(execute=True):
        runs_ingest(agent=agent, items=[run_payload(cost_usd="0.60")])
        assert not alerts.exists()
        runs_ingest(agent=agent, items=[run_payload(cost_usd="0.60")])
    assert alerts.count() == 1 and "reached its monthly budget" in alerts.get().title


def test_governance_changing_on_every_attempt_is_a_503_to_retry_and_stores_nothing(
    agent, agent_client, run_payload, monkeypatch
):
    """The ingest retries while the agent's governance changes under it; past its attempts it
    stores nothing and answers 503 with Retry-After, like a serialization failure (not a 500)."""
    from telemetry import services

    stale = []
    statement = services._ingest_statement

    def never_matching(agent_id, fingerprint, rows, received_at, spend_now):
        # As if a version changed again just before each statement: no fingerprint ever matches.
        stale.append(fingerprint)
        return statement(agent_id, f"stale-{len(stale)}", rows, received_at, spend_now)

    monkeypatch.setattr(services, "_ingest_statement", never_matching)
    agent_client.raise_request_exception = False  # answered as in production: by handler500
    response = agent_client.post("/api/v1/runs/", run_payload(), format="json")
    assert response.status_code == 503, response.content
    assert response["Retry-After"]
    assert response.json()["errors"][0]["code"] == "service_unavailable"
    assert len(stale) == services._GOVERNANCE_ATTEMPTS
    assert not Run.objects.filter(agent=agent).exists()
