"""Aggregation of raw runs into five-minute, hourly and daily rollups (the engine behind
``services.rollup_refresh``). Everything here recomputes whole buckets from raw runs, so
doing it twice gives the same rows.

Hours within ``FIVE_MINUTE_RETENTION`` are aggregated by five minutes (kept for the drift
checks) and their hourly rows are the sums of those; older hours are aggregated by the hour
directly. Days are the sums of their hours."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, Count, DateTimeField, Func, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from .choices import RunOutcome, RunStatus
from .latency import EDGES_MS, empty_histogram
from .models import DailyRollup, FiveMinuteRollup, HourlyRollup, Run

FIVE_MINUTES = timedelta(minutes=5)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# The longest drift baseline (720 hours) plus the longest drift window (1,440 minutes), and a day.
FIVE_MINUTE_RETENTION = timedelta(days=32)
# Affected hours further apart than this are fetched by separate range queries, so one late run
# from last quarter does not make the pass scan the whole quarter.
CLUSTER_GAP = timedelta(hours=6)

Key = tuple[int, datetime]  # (agent_id, bucket_start)


class TruncFiveMinutes(Func):
    """The start of the five-minute bucket (UTC, aligned on the hour) of a timestamp."""

    template = "date_bin('5 minutes', %(expressions)s, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
    output_field = DateTimeField()


def five_minute_floor(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def five_minute_retention_start(now: datetime | None = None) -> datetime:
    """Hours from here on are kept by five minutes; readers start an hour later (see
    ``FiveMinuteRollup``), so a pass that ran a little earlier has always written them."""
    return _hour((now or timezone.now()) - FIVE_MINUTE_RETENTION)


def _latency_bucket_expr() -> Case:
    whens = [When(latency_ms__lt=edge, then=Value(i)) for i, edge in enumerate(EDGES_MS)]
    return Case(*whens, default=Value(len(EDGES_MS)), output_field=IntegerField())


def _aggregates() -> dict:
    zero_dec = Value(Decimal("0"))
    return {
        "runs": Count("id"),
        "successes": Count("id", filter=Q(outcome="resolved")),
        "escalations": Count("id", filter=Q(outcome="escalated")),
        "failures": Count("id", filter=Q(outcome="failed")),
        "blocked": Count("id", filter=Q(outcome="blocked")),
        "abandoned": Count("id", filter=Q(outcome="abandoned")),
        "errors": Count("id", filter=~Q(status=RunStatus.OK)),
        "human_touched": Count("id", filter=Q(outcome="escalated") | Q(human_minutes__gt=0)),
        "policy_blocks": Coalesce(Sum("policy_blocks"), 0),
        "tool_calls": Coalesce(Sum("tool_calls"), 0),
        "input_tokens": Coalesce(Sum("input_tokens"), 0),
        "output_tokens": Coalesce(Sum("output_tokens"), 0),
        "cost_usd": Coalesce(Sum("cost_usd"), zero_dec),
        "human_minutes": Coalesce(Sum("human_minutes"), zero_dec),
        "latency_sum_ms": Coalesce(Sum("latency_ms"), 0),
    }


def _fine_aggregates() -> dict:
    failed_or_errored = ~Q(status=RunStatus.OK) | Q(outcome=RunOutcome.FAILED)
    # A run reports how often its model provider rate-limited it as metadata "provider_429s"
    # (monitors: "provider 429s above 5 % over 5 minutes"); a run with any counts once.
    throttled = Q(metadata__provider_429s__gt=0)
    return {
        **_aggregates(),
        "errored_or_failed": Count("id", filter=failed_or_errored),
        "provider_throttled": Count("id", filter=throttled),
    }


def _clusters(starts: Iterable[datetime], width: timedelta = HOUR) -> list[tuple[datetime, datetime]]:
    """Disjoint time ranges [start, end) covering the buckets [s, s + width) of the given
    starts, merging buckets closer than CLUSTER_GAP. Disjoint matters: a bucket fetched by
    two ranges would be counted twice."""
    ranges: list[list[datetime]] = []
    for start in sorted(set(starts)):
        if ranges and start - ranges[-1][1] <= CLUSTER_GAP:
            ranges[-1][1] = start + width
        else:
            ranges.append([start, start + width])
    return [(a, b) for a, b in ranges]


def affected_hours(*, received_after: datetime | None, received_upto: datetime) -> set[Key]:
    """(agent, hour) buckets holding a run received in (received_after, received_upto]."""
    qs = Run.objects.filter(received_at__lte=received_upto)
    if received_after is not None:
        qs = qs.filter(received_at__gt=received_after)
    rows = qs.annotate(hour=TruncHour("started_at", tzinfo=UTC)).values_list("agent_id", "hour").distinct()
    return {(agent_id, hour) for agent_id, hour in rows}


def all_hours(*, start: datetime, end: datetime) -> set[Key]:
    """Every (agent, hour) bucket with a run started in [start, end) — for a full rebuild."""
    rows = (
        Run.objects.filter(started_at__gte=start, started_at__lt=end)
        .annotate(hour=TruncHour("started_at", tzinfo=UTC))
        .values_list("agent_id", "hour")
        .distinct()
    )
    return {(agent_id, hour) for agent_id, hour in rows}


def _aggregate(keys: set[Key], *, fine: bool) -> dict[tuple[int, int | None, datetime], dict]:
    """Fresh counters for exactly these (agent, hour) buckets, per version and per hour (or
    per five minutes when ``fine``)."""
    out: dict[tuple[int, int | None, datetime], dict] = {}
    trunc = TruncFiveMinutes("started_at") if fine else TruncHour("started_at", tzinfo=UTC)
    for start, end in _clusters(h for _, h in keys):
        agents = {a for a, h in keys if start <= h < end}
        # Shadow runs are no production traffic: rollups (and so reports and drift) leave them out.
        base = Run.objects.filter(
            agent_id__in=agents, started_at__gte=start, started_at__lt=end, shadow=False
        ).annotate(bucket=trunc)
        aggregates = _fine_aggregates() if fine else _aggregates()
        for row in base.values("agent_id", "version_id", "bucket").annotate(**aggregates).order_by():
            if (row["agent_id"], _hour(row["bucket"])) not in keys:
                continue
            row["latency_hist"] = empty_histogram()
            out[(row.pop("agent_id"), row.pop("version_id"), row.pop("bucket"))] = row
        hist_rows = (
            base.annotate(lb=_latency_bucket_expr())
            .values("agent_id", "version_id", "bucket", "lb")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in hist_rows:
            key = (row["agent_id"], row["version_id"], row["bucket"])
            if key in out:
                out[key]["latency_hist"][row["lb"]] += row["n"]
    return out


def _aggregate_hours(keys: set[Key], *, fine_from: datetime) -> tuple[dict, dict]:
    """(hourly rows, five-minute rows) for these (agent, hour) buckets: hours from ``fine_from``
    on by five minutes (their hourly rows summed from those), older hours by the hour."""
    fine_keys = {k for k in keys if k[1] >= fine_from}
    fine = _aggregate(fine_keys, fine=True)
    hourly = _aggregate(keys - fine_keys, fine=False)
    for (agent_id, version_id, bucket), row in fine.items():
        _sum_into(hourly.setdefault((agent_id, version_id, _hour(bucket)), {}), row)
    return hourly, fine


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _delete_buckets(model, keys: set[Key]) -> None:
    by_agent: dict[int, list[datetime]] = defaultdict(list)
    for agent_id, bucket in keys:
        by_agent[agent_id].append(bucket)
    for agent_id, buckets in by_agent.items():
        for i in range(0, len(buckets), 1000):
            model.objects.filter(agent_id=agent_id, bucket_start__in=buckets[i : i + 1000]).delete()


def _delete_fine_buckets(keys: set[Key]) -> None:
    """Delete the five-minute rows inside these (agent, hour) buckets."""
    by_agent: dict[int, list[datetime]] = defaultdict(list)
    for agent_id, hour in keys:
        by_agent[agent_id].append(hour)
    for agent_id, hours in by_agent.items():
        ranges: list[list[datetime]] = []
        for hour in sorted(hours):  # runs of adjacent hours, so the delete reads the index by range
            if ranges and ranges[-1][1] == hour:
                ranges[-1][1] = hour + HOUR
            else:
                ranges.append([hour, hour + HOUR])
        for i in range(0, len(ranges), 200):
            within = Q()
            for start, end in ranges[i : i + 200]:
                within |= Q(bucket_start__gte=start, bucket_start__lt=end)
            FiveMinuteRollup.objects.filter(within, agent_id=agent_id).delete()


def _sum_into(target: dict, row: dict) -> None:
    for field in HourlyRollup.COUNTERS:
        target[field] = target.get(field, 0) + row[field]
    hist = target.setdefault("latency_hist", empty_histogram())
    for i, count in enumerate(row["latency_hist"]):
        hist[i] += count


def _copy_rows(model, rows: dict[tuple[int, int | None, datetime], dict]) -> None:
    """Insert rollup rows keyed (agent, version, bucket start) by COPY. Django's bulk_create
    prepares every value of every row in Python, which was most of a backfill's time once
    five-minute rows multiplied the row count by twelve."""
    if not rows:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    now = timezone.now()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for (agent_id, version_id, bucket), row in rows.items():
            values = {**row, "agent_id": agent_id, "version_id": version_id, "bucket_start": bucket, "computed_at": now}
            values["latency_hist"] = json.dumps(values["latency_hist"])
            copy.write_row([values[f.attname] for f in fields])


def recompute(keys: set[Key]) -> int:
    """Replace the five-minute and hourly rows of these (agent, hour) buckets and the daily
    rows of their days with fresh aggregates of the raw runs. Call inside a transaction.
    Returns the number of hourly buckets recomputed."""
    if not keys:
        return 0
    fine_from = five_minute_retention_start()
    hourly, fine = _aggregate_hours(keys, fine_from=fine_from)
    _delete_fine_buckets({k for k in keys if k[1] >= fine_from})
    _copy_rows(FiveMinuteRollup, fine)
    _delete_buckets(HourlyRollup, keys)
    _copy_rows(HourlyRollup, hourly)
    day_keys = {(a, _day(h)) for a, h in keys}
    # A day is the sum of its hours; the hourly rows of untouched hours of that day are current.
    daily: dict[tuple[int, int | None, datetime], dict] = {}
    for start, end in _clusters((d for _, d in day_keys), width=DAY):
        agents = {a for a, d in day_keys if start <= d < end}
        rows = HourlyRollup.objects.filter(agent_id__in=agents, bucket_start__gte=start, bucket_start__lt=end).values(
            "agent_id", "version_id", "bucket_start", "latency_hist", *HourlyRollup.COUNTERS
        )
        for row in rows:
            day = _day(row["bucket_start"])
            if (row["agent_id"], day) not in day_keys:
                continue
            _sum_into(daily.setdefault((row["agent_id"], row["version_id"], day), {}), row)
    _delete_buckets(DailyRollup, day_keys)
    _copy_rows(DailyRollup, daily)
    return len(keys)


def rebuild(*, start: datetime, end: datetime, chunk: timedelta = timedelta(days=7)) -> int:
    """Recompute every bucket with runs started in [start, end), a chunk of days at a time
    (each chunk in its own transaction, so a big rebuild never holds one huge one)."""
    total = 0
    cursor = _day(start)
    while cursor < end:
        upto = min(cursor + chunk, end)
        with transaction.atomic():
            total += recompute(all_hours(start=cursor, end=upto))
        cursor = upto
    return total


def recent_fine_buckets(
    *, agent_id: int, received_after: datetime | None, started_before: datetime | None = None
) -> set[datetime]:
    """The five-minute buckets of one agent holding a run received after ``received_after``
    (every run when None) and started before ``started_before``, within the retention."""
    qs = Run.objects.filter(agent_id=agent_id, started_at__gte=five_minute_retention_start())
    if received_after is not None:
        qs = qs.filter(received_at__gt=received_after)
    if started_before is not None:
        qs = qs.filter(started_at__lt=started_before)
    return set(qs.annotate(bucket=TruncFiveMinutes("started_at")).values_list("bucket", flat=True).distinct())


def recent_fine_buckets_fleet(
    *, agent_ids: list[int], received_after: datetime | None, started_before: datetime | None = None
) -> dict[int, set[datetime]]:
    """``recent_fine_buckets`` of many agents in one query, by agent (agents without any left out)."""
    qs = Run.objects.filter(agent_id__in=agent_ids, started_at__gte=five_minute_retention_start())
    if received_after is not None:
        qs = qs.filter(received_at__gt=received_after)
    if started_before is not None:
        qs = qs.filter(started_at__lt=started_before)
    out: dict[int, set[datetime]] = {}
    rows = qs.annotate(bucket=TruncFiveMinutes("started_at")).values_list("agent_id", "bucket").distinct()
    for agent_id, bucket in rows.order_by():
        out.setdefault(agent_id, set()).add(bucket)
    return out


def recompute_fine(*, agent_id: int, buckets: set[datetime]) -> int:
    """Replace one agent's five-minute rows of these buckets with fresh aggregates of its raw
    runs (hourly and daily rows are left to the next pass). Call inside a transaction."""
    if not buckets:
        return 0
    rows: dict[tuple[int | None, datetime], dict] = {}
    for start, end in _clusters(buckets, width=FIVE_MINUTES):
        base = Run.objects.filter(agent_id=agent_id, started_at__gte=start, started_at__lt=end, shadow=False).annotate(
            bucket=TruncFiveMinutes("started_at")
        )
        for row in base.values("version_id", "bucket").annotate(**_fine_aggregates()).order_by():
            if row["bucket"] in buckets:
                row["latency_hist"] = empty_histogram()
                rows[(row.pop("version_id"), row.pop("bucket"))] = row
        hist_rows = (
            base.annotate(lb=_latency_bucket_expr()).values("version_id", "bucket", "lb").annotate(n=Count("id"))
        )
        for row in hist_rows.order_by():
            if (row["version_id"], row["bucket"]) in rows:
                rows[(row["version_id"], row["bucket"])]["latency_hist"][row["lb"]] += row["n"]
    FiveMinuteRollup.objects.filter(agent_id=agent_id, bucket_start__in=list(buckets)).delete()
    _copy_rows(FiveMinuteRollup, {(agent_id, v, b): row for (v, b), row in rows.items()})
    return len(buckets)


def prune_fine(*, now: datetime | None = None) -> int:
    """Delete five-minute rows older than the retention (their hours keep their hourly rows)."""
    deleted, _ = FiveMinuteRollup.objects.filter(bucket_start__lt=five_minute_retention_start(now)).delete()
    return deleted
