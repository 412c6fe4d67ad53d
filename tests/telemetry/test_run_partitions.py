"""Runs partitioned by month of ``started_at`` (issue 22, item 4): the right partition across a
month boundary, retention dropping a whole month (but never a held agent's), the online
conversion keeping every row, and replays still stored once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from telemetry.migrations._0014_run_table_convert import run_table_convert
from telemetry.models import Run
from telemetry.partitions import PartitionedTable, partitions_list
from telemetry.run_partitions import RUNS, run_partitions_ensure
from telemetry.services import runs_ingest, runs_purge_before
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

JAN_END = datetime(2026, 1, 31, 23, 59, 59, 900000, tzinfo=UTC)
FEB_START = datetime(2026, 2, 1, tzinfo=UTC)


def _commit_point() -> None:
    """Ingest and purge run in separate transactions in production; here they share the test's,
    where the runs' deferred foreign-key checks would still be pending at the DROP."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _partition_of(run_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM telemetry_run WHERE run_id = %s", [run_id])
        return cursor.fetchone()[0]


def _ingest(agent, run_id: str, started: datetime, **extra):
    item = {
        "run_id": run_id,
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=1)).isoformat(),
        "status": "ok",
        "outcome": "resolved",
        "version_label": "1.0",
        "model": "gpt-4o",
        **extra,
    }
    [result] = runs_ingest(agent=agent, items=[item], received_at=started + timedelta(minutes=5))
    assert result.status != "invalid", result.errors
    return result.status


def test_runs_land_in_their_month_across_the_boundary(agent):
    run_partitions_ensure(JAN_END, FEB_START)
    assert _ingest(agent, "last-of-january", JAN_END) == "created"
    assert _ingest(agent, "first-of-february", FEB_START) == "created"
    assert _partition_of("last-of-january") == "telemetry_run_p202601"
    assert _partition_of("first-of-february") == "telemetry_run_p202602"


def test_a_month_without_a_partition_goes_to_the_default_and_stays_there(agent):
    stray = datetime(2025, 3, 10, tzinfo=UTC)
    assert _ingest(agent, "backfilled", stray) == "created"
    assert _partition_of("backfilled") == "telemetry_run_pdefault"
    assert run_partitions_ensure(stray, stray) == []  # PostgreSQL would refuse it: the row is there


def test_a_replay_is_still_one_row(agent):
    run_partitions_ensure(FEB_START, FEB_START)
    assert _ingest(agent, "once", FEB_START) == "created"
    assert _ingest(agent, "once", FEB_START) == "duplicate"
    assert Run.objects.filter(agent=agent, run_id="once").count() == 1


def test_retention_drops_a_whole_month(agent):
    run_partitions_ensure(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))  # February empty
    for i in range(3):
        _ingest(agent, f"march-{i}", datetime(2026, 3, 5 + i, tzinfo=UTC))
    _ingest(agent, "april", datetime(2026, 4, 2, tzinfo=UTC))
    _commit_point()
    assert runs_purge_before(before=datetime(2026, 4, 1, tzinfo=UTC)) == 3
    names = [name for name, _ in partitions_list(RUNS)]
    assert "telemetry_run_p202603" not in names and "telemetry_run_p202604" in names
    assert "telemetry_run_p202602" not in names  # the empty month went too, without counting
    assert list(Run.objects.values_list("run_id", flat=True)) == ["april"]
    assert runs_purge_before(before=datetime(2026, 4, 1, tzinfo=UTC)) == 0


def test_a_month_holding_a_held_agents_runs_is_not_dropped(agent):
    held = AgentFactory(slug="held-agent")
    run_partitions_ensure(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    _ingest(agent, "free", datetime(2026, 3, 5, tzinfo=UTC))
    _ingest(held, "kept", datetime(2026, 3, 6, tzinfo=UTC))
    _commit_point()
    total = 0
    while deleted := runs_purge_before(before=datetime(2026, 4, 1, tzinfo=UTC), exclude_agent_ids=[held.pk]):
        total += deleted
    assert total == 1
    assert "telemetry_run_p202603" in [name for name, _ in partitions_list(RUNS)]
    assert list(Run.objects.values_list("run_id", flat=True)) == ["kept"]


def test_the_online_conversion_keeps_every_row():
    """A plain table shaped like the old one (unique (agent, run_id)), 2,500 rows over three
    months, converted in batches of 400: the same rows, each in its month, ids continuing."""
    agents = [AgentFactory(slug=f"conv-{i}").pk for i in range(2)]
    table = "zz_run_legacy"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {table} (LIKE telemetry_run INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)"
        )
        cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_unique UNIQUE (agent_id, run_id)")
        cursor.execute(f"CREATE INDEX {table}_agent_started ON {table} (agent_id, started_at)")
        cursor.execute(
            f"INSERT INTO {table} (agent_id, run_id, version_label, bundle_digest, model, channel, started_at, "  # noqa: S608
            "ended_at, latency_ms, status, outcome, reason, input_tokens, output_tokens, cost_usd, tool_calls, "
            "tools_used, policy_blocks, human_minutes, trace_id, metadata, received_at) "
            "SELECT (ARRAY[%s, %s])[1 + g %% 2], 'r-' || g, '', '', '', '', "
            "%s::timestamptz + g * interval '50 minutes', "
            "%s::timestamptz + g * interval '50 minutes', 10, 'ok', 'resolved', '', g, 1, g / 1000.0, 0, '[]', 0, 0, "
            "'', '{}', now() FROM generate_series(1, 2500) g",
            [*agents, datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)],
        )
        checksum = (
            f"SELECT count(*), sum(id), md5(string_agg(run_id || started_at || cost_usd, ',' ORDER BY id)) FROM {table}"  # noqa: S608
        )
        cursor.execute(checksum)
        before = cursor.fetchone()
    assert run_table_convert(table=table, batch=400, now=datetime(2026, 7, 15, tzinfo=UTC)) == 2500
    with connection.cursor() as cursor:
        cursor.execute(checksum)
        assert cursor.fetchone() == before
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass)", [table])
        assert cursor.fetchone()[0]
        cursor.execute(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1 ORDER BY 1")  # noqa: S608
        months = dict(cursor.fetchall())
        columns = [f.column for f in Run._meta.concrete_fields if f.column not in {"id", "run_id"}]
        cursor.execute(
            f"INSERT INTO {table} (run_id, {', '.join(columns)}) "  # noqa: S608 - model column names
            f"SELECT 'after', {', '.join(columns)} FROM {table} WHERE run_id = 'r-1' RETURNING id"
        )
        assert cursor.fetchone()[0] == 2501  # the identity continues after the copied ids
    assert set(months) == {f"{table}_p202605", f"{table}_p202606", f"{table}_p202607"}
    assert sum(months.values()) == 2500
    assert [n for n, _ in partitions_list(PartitionedTable(table, "month"))][-1] == f"{table}_p202609"  # ahead
    assert run_table_convert(table=table) == 0  # already partitioned: nothing to do
