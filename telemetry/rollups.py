"""Aggregation of raw runs into hourly and daily rollups (the engine behind
``services.rollup_refresh``). Everything here recomputes whole buckets from raw runs, so
doing it twice gives the same rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Case, Count, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncHour

from telemetry.models import Run

from .latency import EDGES_MS, empty_histogram
from .models import DailyRollup, HourlyRollup

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Affected hours further apart than this are fetched by separate range queries, so one late run
# from last quarter does not make the pass scan the whole quarter.
CLUSTER_GAP = timedelta(hours=6)

Key = tuple[int, datetime]  # (agent_id, bucket_start)


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
        "errors": Count("id", filter=~Q(status="ok")),
        "human_touched": Count("id", filter=Q(outcome="escalated") | Q(human_minutes__gt=0)),
        "policy_blocks": Coalesce(Sum("policy_blocks"), 0),
        "tool_calls": Coalesce(Sum("tool_calls"), 0),
        "input_tokens": Coalesce(Sum("input_tokens"), 0),
        "output_tokens": Coalesce(Sum("output_tokens"), 0),
        "cost_usd": Coalesce(Sum("cost_usd"), zero_dec),
        "human_minutes": Coalesce(Sum("human_minutes"), zero_dec),
        "latency_sum_ms": Coalesce(Sum("latency_ms"), 0),
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


def _aggregate_hours(keys: set[Key]) -> dict[tuple[int, int | None, datetime], dict]:
    """Fresh hourly counters for exactly these (agent, hour) buckets, per version."""
    out: dict[tuple[int, int | None, datetime], dict] = {}
    for start, end in _clusters(h for _, h in keys):
        agents = {a for a, h in keys if start <= h < end}
        base = Run.objects.filter(agent_id__in=agents, started_at__gte=start, started_at__lt=end).annotate(
            hour=TruncHour("started_at", tzinfo=UTC)
        )
        for row in base.values("agent_id", "version_id", "hour").annotate(**_aggregates()).order_by():
            if (row["agent_id"], row["hour"]) not in keys:
                continue
            row["latency_hist"] = empty_histogram()
            out[(row.pop("agent_id"), row.pop("version_id"), row.pop("hour"))] = row
        hist_rows = (
            base.annotate(lb=_latency_bucket_expr())
            .values("agent_id", "version_id", "hour", "lb")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in hist_rows:
            key = (row["agent_id"], row["version_id"], row["hour"])
            if key in out:
                out[key]["latency_hist"][row["lb"]] += row["n"]
    return out


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _delete_buckets(model, keys: set[Key]) -> None:
    by_agent: dict[int, list[datetime]] = defaultdict(list)
    for agent_id, bucket in keys:
        by_agent[agent_id].append(bucket)
    for agent_id, buckets in by_agent.items():
        for i in range(0, len(buckets), 1000):
            model.objects.filter(agent_id=agent_id, bucket_start__in=buckets[i : i + 1000]).delete()


def _sum_into(target: dict, row: dict) -> None:
    for field in HourlyRollup.COUNTERS:
        target[field] = target.get(field, 0) + row[field]
    hist = target.setdefault("latency_hist", empty_histogram())
    for i, count in enumerate(row["latency_hist"]):
        hist[i] += count


def recompute(keys: set[Key], *, batch_size: int = 2000) -> int:
    """Replace the hourly rows of these (agent, hour) buckets and the daily rows of their
    days with fresh aggregates of the raw runs. Call inside a transaction. Returns the
    number of hourly buckets recomputed."""
    if not keys:
        return 0
    hourly = _aggregate_hours(keys)
    _delete_buckets(HourlyRollup, keys)
    HourlyRollup.objects.bulk_create(
        [HourlyRollup(agent_id=a, version_id=v, bucket_start=h, **row) for (a, v, h), row in hourly.items()],
        batch_size=batch_size,
    )
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
    DailyRollup.objects.bulk_create(
        [DailyRollup(agent_id=a, version_id=v, bucket_start=d, **row) for (a, v, d), row in daily.items()],
        batch_size=batch_size,
    )
    return len(keys)


def rebuild(*, start: datetime, end: datetime, chunk: timedelta = timedelta(days=7)) -> int:
    """Recompute every bucket with runs started in [start, end), a chunk of days at a time
    (each chunk in its own transaction, so a big rebuild never holds one huge one)."""
    from django.db import transaction

    total = 0
    cursor = _day(start)
    while cursor < end:
        upto = min(cursor + chunk, end)
        with transaction.atomic():
            total += recompute(all_hours(start=cursor, end=upto))
        cursor = upto
    return total
