"""Runs in a table partitioned by month of ``started_at`` (issue 22, item 4).

Why ``started_at``: every read of raw runs is a range of start times (rollups, the drift
cycle's late buckets, run pages), so PostgreSQL prunes to one or two months; and retention
deletes runs *started* before a cutoff, so a month past the cutoff is dropped whole — instant,
no dead rows to vacuum — instead of deleted in batches.

Idempotency. A partitioned table's unique constraints must include the partition key, so the
old ``UNIQUE (agent_id, run_id)`` becomes ``UNIQUE (agent_id, run_id, started_at)`` (ingest's
``ON CONFLICT`` names it). A replayed report — a retry of the same POST or batch, an OTLP
resend — carries the same ``started_at`` and stays one row, which is what idempotency is for.
What it no longer refuses is a *different* report reusing a run id with another start time;
that is stored as a second run. The alternative, a non-partitioned key table of
``(agent_id, run_id)``, keeps that refusal but must itself be purged row by row at retention:
the long ``DELETE`` that partitioning exists to remove comes back, on a table as long as runs.
We chose the partition-local key; docs/SCALING.md records the trade-off.

Partitions: one per month, ``telemetry_run_pYYYYMM`` (``telemetry.partitions``), made
``RUN_PARTITIONS_AHEAD_MONTHS`` ahead by beat (``telemetry.spans_maintain`` →
:func:`run_partitions_maintain`), plus ``telemetry_run_pdefault`` for a start time no month
covers (a far-past backfill): those rows are kept and purged by batched ``DELETE``.

Legal hold: a month holding a held agent's run is never dropped; the other agents' runs in it
are deleted in batches, as before (``telemetry.services.runs_purge_before``).

The conversion from the unpartitioned table (``run_table_convert``, in migration 0014's own
frozen module ``telemetry/migrations/_0014_run_table_convert.py``, so that later changes here never
change what the migration does) is online: rows are copied in id-ordered batches, each its own short transaction, while
ingest keeps writing to the old table; indexes are built on the new table before it is live;
only the last step — copy the rows that arrived meanwhile, move the identity, swap the names —
holds a lock that blocks writers, for as long as those few rows take. Updates and deletes of
already-copied rows during the copy (the nightly metadata and retention purges) are not carried
over: run the migration outside the purge window.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from .partitions import PartitionedTable, partitions_list

RUNS = PartitionedTable("telemetry_run", "month")
RUN_PARTITIONS_AHEAD_MONTHS = 2


def _month_start(moment: datetime | date) -> date:
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day.replace(day=1)


def _months(first: date, last: date) -> list[date]:
    out, current = [], first
    while current <= last:
        out.append(current)
        current = RUNS.slice_after(current)
    return out


def _bound(day: date) -> str:
    return f"{day.isoformat()} 00:00:00+00"


def _rows_in_default(cursor, default: str, start: date) -> bool:
    upper = RUNS.slice_after(start)
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {default} WHERE started_at >= %s AND started_at < %s)",  # noqa: S608
        [_bound(start), _bound(upper)],
    )
    return cursor.fetchone()[0]


def run_partitions_ensure(
    start: datetime | date, end: datetime | date, *, table: str = RUNS.name, parent: str | None = None
) -> list[str]:
    """Create the monthly partitions of ``table`` (attached to ``parent`` while a conversion
    builds it under another name) covering ``start`` … ``end`` that do not exist yet; return
    their names. A month whose rows already sit in the default partition is left there
    (PostgreSQL would refuse the new partition; those rows stay reachable and purgeable)."""
    parent = parent or table
    naming = PartitionedTable(table, "month")
    default = f"{table}_pdefault"
    created: list[str] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"quorum.partitions:{table}"])
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [parent],
        )
        existing = {row[0] for row in cursor.fetchall()}
        for month in _months(_month_start(start), _month_start(end)):
            name = naming.partition_name(month)
            if name in existing or (default in existing and _rows_in_default(cursor, default, month)):
                continue
            cursor.execute(
                f"CREATE TABLE {name} PARTITION OF {parent} "  # noqa: S608 - names from a date and a constant
                f"FOR VALUES FROM ('{_bound(month)}') TO ('{_bound(RUNS.slice_after(month))}')"
            )
            created.append(name)
    return created


def run_partitions_maintain(*, now: datetime | None = None) -> list[str]:
    """Beat: the current month and ``RUN_PARTITIONS_AHEAD_MONTHS`` ahead exist."""
    now = now or timezone.now()
    return run_partitions_ensure(now, now + timedelta(days=31 * RUN_PARTITIONS_AHEAD_MONTHS))


def run_partition_drop_one(*, before: datetime, exclude_agent_ids: Collection[int] = (), table: str = RUNS.name) -> int:
    """Drop the oldest monthly partition that ends at or before ``before`` and holds no run of
    a held agent (and any empty ones before it); return how many runs it held (0: none is
    due). A held month is skipped — its other runs go by batched ``DELETE`` in
    ``runs_purge_before``."""
    held = list(exclude_agent_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"quorum.partitions:{table}"])
        naming = PartitionedTable(table, "month")
        for name, start in partitions_list(naming):
            upper = datetime.combine(naming.slice_after(start), datetime.min.time(), tzinfo=UTC)
            if upper > before:
                break
            if held:
                cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {name} WHERE agent_id = ANY(%s))", [held])  # noqa: S608
                if cursor.fetchone()[0]:
                    continue
            cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608 - name read from pg_inherits
            count = cursor.fetchone()[0]
            cursor.execute(f"DROP TABLE {name}")
            if count:
                return count
            # An empty month goes too, and the next one is looked at: counts stay exact.
    return 0
