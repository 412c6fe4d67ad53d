"""Time partitions of PostgreSQL tables declared ``PARTITION BY RANGE (<timestamptz column>)``.

Generic on purpose: any append-mostly table read by time ranges (spans today; runs later) gets
daily or monthly partitions named ``<table>_pYYYYMMDD`` / ``<table>_pYYYYMM``, created ahead of
time by a beat task (and on demand by a writer that meets a day with no partition yet), and
dropped whole for retention — dropping a partition is instant and leaves no dead rows behind,
where ``DELETE`` would leave the table to vacuum.

A table opts in with a :class:`PartitionedTable` and calls :func:`partitions_ensure` and
:func:`partitions_drop_before`. Partition DDL runs under a transaction-level advisory lock per
table, so two writers meeting the same new day (or the beat task running twice) never race to
create the same partition."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction

# pg_advisory_xact_lock(PARTITION_LOCK, crc32(table)): one partition change per table at a time.
PARTITION_LOCK = 0x50415254  # "PART"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")


@dataclass(frozen=True)
class PartitionedTable:
    """A table partitioned by range on ``column`` in ``period`` slices ("day" or "month")."""

    name: str
    period: str = "day"

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.name) or self.period not in ("day", "month"):
            raise ValueError(f"Unsupported partitioned table {self.name!r} ({self.period}).")

    def slice_start(self, when: datetime | date) -> date:
        day = when.astimezone(UTC).date() if isinstance(when, datetime) else when
        return day if self.period == "day" else day.replace(day=1)

    def slice_after(self, start: date) -> date:
        if self.period == "day":
            return start + timedelta(days=1)
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)

    def partition_name(self, start: date) -> str:
        return f"{self.name}_p{start:%Y%m%d}" if self.period == "day" else f"{self.name}_p{start:%Y%m}"

    def start_of(self, partition: str) -> date | None:
        """The first day a partition of this table covers, read back from its name."""
        suffix = partition.removeprefix(f"{self.name}_p")
        try:
            if self.period == "day" and len(suffix) == 8:
                return datetime.strptime(suffix, "%Y%m%d").date()  # noqa: DTZ007 - a date, no time
            if self.period == "month" and len(suffix) == 6:
                return datetime.strptime(suffix, "%Y%m").date()  # noqa: DTZ007
        except ValueError:
            return None
        return None


def partitions_list(table: PartitionedTable) -> list[tuple[str, date]]:
    """The table's partitions with their first day, oldest first (foreign ones left out)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [table.name],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = [(name, table.start_of(name)) for name in names]
    return sorted(((name, start) for name, start in found if start is not None), key=lambda item: item[1])


def _lock(table: PartitionedTable) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PARTITION_LOCK, zlib.crc32(table.name.encode()) >> 1])


def partitions_ensure(table: PartitionedTable, start: datetime | date, end: datetime | date) -> list[str]:
    """Create the partitions covering ``start`` … ``end`` (both included) that do not exist yet;
    return the names created. Idempotent; serialised per table by an advisory lock."""
    first, last = table.slice_start(start), table.slice_start(end)
    wanted = []
    current = first
    while current <= last:
        wanted.append(current)
        current = table.slice_after(current)
    created: list[str] = []
    with transaction.atomic():
        _lock(table)
        existing = {name for name, _ in partitions_list(table)}
        with connection.cursor() as cursor:
            for slice_start in wanted:
                name = table.partition_name(slice_start)
                if name in existing:
                    continue
                upper = table.slice_after(slice_start)
                # Names come from the validated table name and a date; bounds are literals PG
                # requires in DDL (no bind parameters there).
                cursor.execute(
                    f"CREATE TABLE {name} PARTITION OF {table.name} "  # noqa: S608
                    f"FOR VALUES FROM ('{slice_start.isoformat()} 00:00:00+00') TO ('{upper.isoformat()} 00:00:00+00')"
                )
                created.append(name)
    return created


def partitions_drop_before(table: PartitionedTable, when: datetime) -> list[str]:
    """Drop every partition whose whole range ends at or before ``when``; return their names.
    Rows of the partition that straddles ``when`` stay (the caller deletes them if it must)."""
    dropped: list[str] = []
    with transaction.atomic():
        _lock(table)
        with connection.cursor() as cursor:
            for name, start in partitions_list(table):
                upper = datetime.combine(table.slice_after(start), datetime.min.time(), tzinfo=UTC)
                if upper <= when:
                    cursor.execute(f"DROP TABLE {name}")  # noqa: S608 - name read from pg_inherits, pattern-checked
                    dropped.append(name)
    return dropped
