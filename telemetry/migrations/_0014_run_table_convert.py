"""Migration 0014's own frozen copy of the online conversion of ``telemetry_run`` into a table
partitioned by month of ``started_at`` (issue 22, item 4).

Frozen on purpose: a migration must do tomorrow what it did the day it was written, whatever later
happens to ``telemetry/run_partitions.py`` (the live partition management: naming, how far ahead,
retention). So this module imports nothing of ours; the month arithmetic, the partition naming
(``<table>_pYYYYMM`` and ``<table>_pdefault``) and the creation of the months are copied here as they
were. The leading underscore keeps Django's migration loader from taking it for a migration.

Online: rows are copied in id-ordered batches, each its own short transaction, while ingest keeps
writing to the old table; indexes are built on the new table before it is live; only the last step
(copy the rows that arrived meanwhile, move the identity, swap the names) holds a lock that blocks
writers, for as long as those few rows take. Updates and deletes of already-copied rows during the
copy (the nightly metadata and retention purges) are not carried over: run the migration outside the
purge window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

RUN_TABLE = "telemetry_run"
PARTITIONS_AHEAD_MONTHS = 2
# The oldest month the conversion gives a partition of its own; older rows go to the default.
CONVERT_MONTHS_BACK = 36
# Constraint names are f"{table}{suffix}": for telemetry_run, the names in the model's Meta.
UNIQUE_SUFFIX = "_unique_run_per_agent_start"
OLD_UNIQUE_SUFFIX = "_unique_run_id_per_agent"
# Single-column FK indexes left out of the partitioned table: (agent_id, started_at) and
# (version_id, started_at) serve every lookup they did (index review, docs/SCALING.md).
DROPPED_INDEX_COLUMNS = {"(agent_id)", "(version_id)"}


def _month_start(moment: datetime | date) -> date:
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day.replace(day=1)


def _month_after(start: date) -> date:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _bound(day: date) -> str:
    return f"{day.isoformat()} 00:00:00+00"


def _months_create(table: str, parent: str, first: date, last: date) -> None:
    """The monthly partitions ``<table>_pYYYYMM`` of ``parent`` from ``first`` to ``last``."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"quorum.partitions:{table}"])
        month = _month_start(first)
        while month <= last:
            cursor.execute(
                f"CREATE TABLE {table}_p{month:%Y%m} PARTITION OF {parent} "  # noqa: S608 - a date and a constant
                f"FOR VALUES FROM ('{_bound(month)}') TO ('{_bound(_month_after(month))}')"
            )
            month = _month_after(month)


def _indexes_to_copy(cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisunique",
        [table],
    )
    return [(name, ddl) for name, ddl in cursor.fetchall() if not any(ddl.endswith(c) for c in DROPPED_INDEX_COLUMNS)]


def _foreign_keys(cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    return list(cursor.fetchall())


def _copy_batches(old: str, new: str, *, after: int, until: int, batch: int) -> int:
    """Copy rows with after < id <= until in id ranges of ``batch``, one transaction each."""
    copied = 0
    low = after
    while low < until:
        high = min(low + batch, until)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {new} SELECT * FROM {old} WHERE id > %s AND id <= %s", [low, high])  # noqa: S608
            copied += cursor.rowcount
        low = high
    return copied


def run_table_convert(*, table: str = RUN_TABLE, batch: int = 50_000, now: datetime | None = None) -> int:
    """Turn the unpartitioned run table ``table`` into one partitioned by month, online (see the
    module docstring); return the rows copied. Idempotent: a table already partitioned is left."""
    now = now or timezone.now()
    new, old = f"{table}__p", f"{table}__old"
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass)", [table])
        if cursor.fetchone()[0]:
            return 0
        cursor.execute(f"SELECT min(started_at), coalesce(max(id), 0) FROM {table}")  # noqa: S608
        oldest, last_id = cursor.fetchone()
        fks = _foreign_keys(cursor, table)
        indexes = _indexes_to_copy(cursor, table)
        cursor.execute(f"DROP TABLE IF EXISTS {new}")  # a conversion that died half-way starts again
        cursor.execute(
            f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY "
            "INCLUDING STORAGE) PARTITION BY RANGE (started_at)"
        )
        cursor.execute(f"CREATE TABLE {table}_pdefault PARTITION OF {new} DEFAULT")
    first = max(_month_start(oldest or now), _month_start(now - timedelta(days=31 * CONVERT_MONTHS_BACK)))
    _months_create(table, new, first, _month_start(now + timedelta(days=31 * PARTITIONS_AHEAD_MONTHS)))
    copied = _copy_batches(table, new, after=0, until=last_id, batch=batch)
    with connection.cursor() as cursor:  # built while the new table is not live yet: no writer waits
        cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {new}_pkey PRIMARY KEY (id, started_at)")
        cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {table}{UNIQUE_SUFFIX} UNIQUE (agent_id, run_id, started_at)")
        for name, ddl in indexes:
            cursor.execute(ddl.replace(f" INDEX {name} ON ", f" INDEX {name}__p ON ").replace(f".{table} ", f".{new} "))
        for name, ddl in fks:
            cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {name}__p {ddl}")
    with transaction.atomic(), connection.cursor() as cursor:
        # The short part: writers wait while the rows that arrived during the copy follow.
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
        copied += _copy_batches(table, new, after=last_id, until=cursor.fetchone()[0], batch=batch)
        cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {new}")  # noqa: S608
        next_id = cursor.fetchone()[0]
        cursor.execute(f"ALTER TABLE {new} ALTER COLUMN id RESTART WITH {int(next_id)}")
        cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
        cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
        cursor.execute(f"DROP TABLE {old}")
        cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {new}_pkey TO {table}_pkey")
        for name, _ddl in indexes:
            cursor.execute(f"ALTER INDEX {name}__p RENAME TO {name}")
        for name, _ddl in fks:
            cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {name}__p TO {name}")
    return copied


def run_table_unconvert(*, table: str = RUN_TABLE, batch: int = 50_000) -> int:
    """The reverse (the migration backwards): one plain table with ``UNIQUE (agent_id, run_id)``.
    Not online — a way back for development databases, copying in batches all the same."""
    new, old = f"{table}__u", f"{table}__old"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
        last_id = cursor.fetchone()[0]
        fks = _foreign_keys(cursor, table)
        indexes = _indexes_to_copy(cursor, table)
        cursor.execute(
            f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY "
            "INCLUDING STORAGE)"
        )
    copied = _copy_batches(table, new, after=0, until=last_id, batch=batch)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {new} ALTER COLUMN id RESTART WITH {int(last_id) + 1}")
        cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
        cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
        cursor.execute(f"DROP TABLE {old}")
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}{OLD_UNIQUE_SUFFIX} UNIQUE (agent_id, run_id)")
        for _name, ddl in indexes:
            cursor.execute(ddl.replace(" ON ONLY ", " ON "))
        cursor.execute(f"CREATE INDEX {table}_agent_id_2c8b4301 ON {table} (agent_id)")
        cursor.execute(f"CREATE INDEX {table}_version_id_edb1d903 ON {table} (version_id)")
        for name, ddl in fks:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {ddl}")
    return copied
