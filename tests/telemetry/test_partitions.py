"""The generic time-partition service and span retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from telemetry import otlp
from telemetry.partitions import PartitionedTable, partitions_drop_before, partitions_ensure, partitions_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def events_table():
    """A throw-away monthly-partitioned table: the service is not tied to spans."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_events (at timestamptz NOT NULL, v int) PARTITION BY RANGE (at)")
    return PartitionedTable("test_events", period="month")


def test_ensure_creates_each_missing_slice_once(events_table):
    created = partitions_ensure(events_table, date(2026, 11, 15), date(2027, 1, 2))
    assert created == ["test_events_p202611", "test_events_p202612", "test_events_p202701"]
    assert partitions_ensure(events_table, date(2026, 12, 1), date(2027, 1, 31)) == []
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO test_events VALUES ('2026-12-31T23:59:59Z', 1), ('2027-01-01T00:00:00Z', 2)")
        cursor.execute("SELECT count(*) FROM test_events_p202701")
        assert cursor.fetchone()[0] == 1


def test_drop_before_drops_only_whole_slices(events_table):
    partitions_ensure(events_table, date(2026, 10, 1), date(2026, 12, 1))
    dropped = partitions_drop_before(events_table, datetime(2026, 11, 20, tzinfo=UTC))
    assert dropped == ["test_events_p202610"]
    assert [name for name, _ in partitions_list(events_table)] == ["test_events_p202611", "test_events_p202612"]


def test_a_bad_table_name_is_refused():
    with pytest.raises(ValueError):
        PartitionedTable("spans; DROP TABLE x")


def test_spans_maintain_makes_days_ahead_and_purges_past_retention(settings, agent):
    settings.TELEMETRY_SPAN_RETENTION_DAYS = 3
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    partitions_ensure(otlp.SPANS, now - timedelta(days=6), now)
    old, recent = now - timedelta(days=4), now - timedelta(days=3, hours=-1)
    rows = []
    for when in (old, now - timedelta(days=3, hours=1), recent):
        record = otlp.mapping.SpanRecord("a" * 32, "b" * 16, "", "x", "", when, when, 0, "", "", {}, [])
        rows += otlp.span_rows(agent.pk, [record], now)
    otlp.spans_copy(rows)
    result = otlp.spans_maintain(now=now)
    assert result["dropped"] >= 3  # the 24th, 25th and 26th
    names = [name for name, _ in partitions_list(otlp.SPANS)]
    assert "telemetry_span_p20261207" in names and "telemetry_span_p20261126" not in names
    with connection.cursor() as cursor:
        cursor.execute("SELECT start_time FROM telemetry_span WHERE agent_id = %s", [agent.pk])
        assert [row[0] for row in cursor.fetchall()] == [recent]


def test_a_legal_hold_keeps_the_held_agents_spans_and_drops_no_partition(settings, agent):
    """Span retention drops whole day partitions, which hold every agent's spans: while an agent
    is on legal hold (trail's holds, through telemetry.extensions.retention_holds) nothing of its
    is purged, and the other agents' old spans still go, row by row."""
    from registry.models import Agent
    from telemetry.extensions import retention_holds
    from tests.factories import AgentFactory

    other = AgentFactory()
    settings.TELEMETRY_SPAN_RETENTION_DAYS = 3
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    partitions_ensure(otlp.SPANS, now - timedelta(days=6), now)
    old = now - timedelta(days=5)
    rows = []
    for owner in (agent, other):
        record = otlp.mapping.SpanRecord("c" * 32, f"{owner.pk:016x}", "", "x", "", old, old, 0, "", "", {}, [])
        rows += otlp.span_rows(owner.pk, [record], now)
    otlp.spans_copy(rows)
    before = [name for name, _ in partitions_list(otlp.SPANS)]

    with retention_holds.override(lambda: {agent.pk}):
        assert otlp.spans_maintain(now=now)["dropped"] == 0
        assert otlp.spans_maintain(now=now)["dropped"] == 0  # idempotent
    assert set(before) <= {name for name, _ in partitions_list(otlp.SPANS)}
    with connection.cursor() as cursor:
        cursor.execute("SELECT agent_id FROM telemetry_span WHERE start_time = %s", [old])
        assert [row[0] for row in cursor.fetchall()] == [agent.pk]
    assert Agent.objects.filter(pk=other.pk).exists()

    # The hold released: the held agent's old spans go too, with their partitions.
    with retention_holds.override():
        assert otlp.spans_maintain(now=now)["dropped"] >= 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM telemetry_span WHERE start_time = %s", [old])
        assert cursor.fetchone()[0] == 0


def test_trails_legal_holds_are_registered_for_span_retention(agent, board_user):
    from telemetry.extensions import held_agent_ids
    from trail.services import legal_hold_set

    assert agent.pk not in held_agent_ids()
    legal_hold_set(agent=agent, actor=board_user, reason="Regulator's preservation request.")
    assert agent.pk in held_agent_ids()
