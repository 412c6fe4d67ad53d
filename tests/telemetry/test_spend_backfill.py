"""Issue 18, item 5: the budget's spend counters back-filled from runs stored before they existed
(migration ``telemetry.0015_spend_backfill``), once."""

from __future__ import annotations

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from registry.budgets import budget_month_spend, period_keys, spend_charge
from registry.models import SpendCounter
from telemetry.models import Run, SpendBackfill
from telemetry.services import runs_ingest
from tests.factories import AgentVersionFactory

pytestmark = pytest.mark.django_db

backfill = importlib.import_module("telemetry.migrations.0015_spend_backfill")


def _run(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, backfill._params())


def _ingest(agent, run_id, started, cost):
    results = runs_ingest(
        agent=agent,
        items=[
            {
                "run_id": run_id,
                "version_label": "1.0",
                "started_at": started.isoformat(),
                "ended_at": (started + timedelta(seconds=1)).isoformat(),
                "outcome": "resolved",
                "cost_usd": cost,
            }
        ],
    )
    assert results[0].status == "created", results[0]


def _counters(agent) -> dict:
    return {(c.period, c.key): (c.cost_usd, c.steps) for c in SpendCounter.objects.filter(agent=agent)}


def test_runs_stored_before_the_counters_are_added_once(agent):
    """GIVEN two runs received before the counters' migration was applied (so never counted: 2 USD
    today, 1 USD in an earlier month), one run and one gate charge counted live since, WHEN the
    back-fill runs, THEN the month and day counters hold the old runs too (steps untouched), the
    record says what it added; running it again adds nothing; reversing it and running it again
    lands in the same place."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(applied) FROM django_migrations WHERE app = 'registry' AND name = '0015_budgets_that_act'"
        )
        landed = cursor.fetchone()[0]
    assert landed is not None
    # The test database's own migration ran with no runs: start from "not back-filled yet".
    SpendBackfill.objects.all().delete()
    AgentVersionFactory(agent=agent, label="1.0")
    now = timezone.now()
    earlier = now - timedelta(days=40)
    _ingest(agent, "old-today", now - timedelta(minutes=5), "2.00")
    _ingest(agent, "old-earlier", earlier, "1.00")
    # Stored before the counters existed: received then, never counted.
    Run.objects.filter(run_id__startswith="old-").update(received_at=landed - timedelta(hours=1))
    SpendCounter.objects.filter(agent=agent).delete()
    # Counted live since.
    _ingest(agent, "new", now - timedelta(minutes=1), "0.50")
    spend_charge(agent=agent, cost_usd=Decimal("1"), session_id="s", now=now)
    assert budget_month_spend(agent=agent, now=now) == Decimal("1.50")
    day, month = period_keys(now)
    earlier_day, earlier_month = period_keys(earlier)

    _run(backfill.FORWARD)
    after = _counters(agent)
    assert after[("month", month)] == (Decimal("3.50"), 1)
    assert after[("day", day)] == (Decimal("3.50"), 1)
    assert after[("month", earlier_month)] == (Decimal("1.00"), 0)
    assert after[("day", earlier_day)] == (Decimal("1.00"), 0)
    assert after[("session", "s")] == (Decimal("1.00"), 1)  # runs are not in sessions
    record = SpendBackfill.objects.get()
    assert (record.counted_before, record.runs, record.cost_usd) == (landed, 2, Decimal("3.00"))

    _run(backfill.FORWARD)  # again: the record is the guard
    assert _counters(agent) == after
    assert SpendBackfill.objects.count() == 1

    _run(backfill.REVERSE)
    assert not SpendBackfill.objects.exists()
    assert _counters(agent)[("month", month)] == (Decimal("1.50"), 1)
    _run(backfill.FORWARD)
    assert _counters(agent) == after


def test_nothing_to_back_fill_adds_nothing_but_the_record(agent):
    """Runs all received after the counters existed (a fresh install): the counters are unchanged."""
    SpendBackfill.objects.all().delete()
    AgentVersionFactory(agent=agent, label="1.0")
    _ingest(agent, "new", timezone.now() - timedelta(minutes=1), "0.50")
    before = _counters(agent)
    _run(backfill.FORWARD)
    assert _counters(agent) == before
    assert SpendBackfill.objects.get().runs == 0
