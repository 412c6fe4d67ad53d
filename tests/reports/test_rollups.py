"""Rollups equal a direct SQL aggregation of the raw runs; recomputing changes nothing;
late runs land in their own bucket."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports import services
from telemetry import services as telemetry_services
from telemetry.latency import EDGES_MS, empty_histogram, merge, percentile_ms
from telemetry.models import DailyRollup, FiveMinuteRollup, HourlyRollup, RollupState, Run
from tests.factories import AgentFactory, AgentVersionFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 3, 1, tzinfo=UTC)
OUTCOMES = ["resolved", "escalated", "failed", "blocked", "abandoned"]
STATUSES = ["ok", "error", "timeout"]

SQL = """
SELECT agent_id, version_id, date_trunc(%s, started_at AT TIME ZONE 'UTC') AS bucket,
       count(*), count(*) FILTER (WHERE outcome = 'resolved'), count(*) FILTER (WHERE outcome = 'escalated'),
       count(*) FILTER (WHERE outcome = 'failed'), count(*) FILTER (WHERE outcome = 'blocked'),
       count(*) FILTER (WHERE outcome = 'abandoned'), count(*) FILTER (WHERE status <> 'ok'),
       count(*) FILTER (WHERE outcome = 'escalated' OR human_minutes > 0),
       sum(policy_blocks), sum(tool_calls), sum(input_tokens), sum(output_tokens),
       sum(cost_usd), sum(human_minutes), sum(latency_ms), array_agg(latency_ms)
FROM telemetry_run GROUP BY 1, 2, 3
"""
FIELDS = [
    "runs",
    "successes",
    "escalations",
    "failures",
    "blocked",
    "abandoned",
    "errors",
    "human_touched",
    "policy_blocks",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "human_minutes",
    "latency_sum_ms",
]


def direct_sql(grain: str) -> dict:
    """The truth, computed independently: SQL GROUP BY plus Python bucketing of latencies."""
    with connection.cursor() as cursor:
        cursor.execute(SQL, [grain])
        rows = cursor.fetchall()
    out = {}
    for agent_id, version_id, bucket, *values in rows:
        latencies = values.pop()
        hist = empty_histogram()
        for ms in latencies:
            hist[bisect_right(EDGES_MS, ms)] += 1
        record = dict(zip(FIELDS, [int(v) if not isinstance(v, Decimal) else v for v in values], strict=True))
        record["latency_hist"] = hist
        out[(agent_id, version_id, bucket.replace(tzinfo=UTC))] = record
    return out


def stored(model) -> dict:
    return {
        (r["agent_id"], r["version_id"], r["bucket_start"]): {k: r[k] for k in [*FIELDS, "latency_hist"]}
        for r in model.objects.values("agent_id", "version_id", "bucket_start", "latency_hist", *FIELDS)
    }


@pytest.fixture
def fleet(db, settings):
    settings.REPORTS_ROLLUP_SETTLE_SECONDS = 0
    agents = [AgentFactory(), AgentFactory()]
    versions = {a.pk: [AgentVersionFactory(agent=a), AgentVersionFactory(agent=a), None] for a in agents}
    return agents, versions


run_strategy = st.fixed_dictionaries(
    {
        "agent": st.integers(0, 1),
        "version": st.integers(0, 2),
        # Around midnights too: buckets at day edges are where off-by-one ranges double count.
        "minute": st.one_of(st.integers(0, 3 * 24 * 60), st.sampled_from([0, 1439, 1440, 1500, 2879, 2880, 4319])),
        "second": st.integers(0, 59),
        "outcome": st.sampled_from(OUTCOMES),
        "status": st.sampled_from(STATUSES),
        "latency_ms": st.one_of(st.integers(0, 5000), st.integers(0, 900_000)),
        "cost": st.decimals(min_value=0, max_value=5, places=6, allow_nan=False),
        "human_minutes": st.one_of(st.just(Decimal("0")), st.decimals(min_value=0, max_value=60, places=2)),
        "tokens": st.integers(0, 100_000),
        "policy_blocks": st.integers(0, 3),
        "tool_calls": st.integers(0, 8),
    }
)


def _insert(fleet, specs, base=BASE) -> None:
    agents, versions = fleet
    runs = []
    for spec in specs:
        agent = agents[spec["agent"]]
        runs.append(
            make_run(
                agent,
                version=versions[agent.pk][spec["version"]],
                started_at=base + timedelta(minutes=spec["minute"], seconds=spec["second"]),
                outcome=spec["outcome"],
                status=spec["status"],
                latency_ms=spec["latency_ms"],
                cost_usd=spec["cost"],
                human_minutes=spec["human_minutes"],
                input_tokens=spec["tokens"],
                output_tokens=spec["tokens"] // 3,
                tool_calls=spec["tool_calls"],
                policy_blocks=spec["policy_blocks"],
                save=False,
            )
        )
    Run.objects.bulk_create(runs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(run_strategy, min_size=1, max_size=40), late=st.lists(run_strategy, max_size=10))
def test_it_matches_direct_sql_for_random_runs_and_recomputing_changes_nothing(fleet, first, late):
    Run.objects.all().delete()
    HourlyRollup.objects.all().delete()
    DailyRollup.objects.all().delete()
    RollupState.objects.all().delete()

    _insert(fleet, first)
    services.rollup_refresh()
    assert stored(HourlyRollup) == direct_sql("hour")
    assert stored(DailyRollup) == direct_sql("day")

    # Twice: nothing new received, nothing changes; a forced full rebuild gives the same rows.
    hourly, daily = stored(HourlyRollup), stored(DailyRollup)
    assert services.rollup_refresh() == 0
    services.rollup_rebuild(start=BASE - timedelta(days=1), end=BASE + timedelta(days=5))
    assert stored(HourlyRollup) == hourly
    assert stored(DailyRollup) == daily

    # Runs arriving late (received now, started days ago) land in their own buckets.
    _insert(fleet, late)
    services.rollup_refresh()
    assert stored(HourlyRollup) == direct_sql("hour")
    assert stored(DailyRollup) == direct_sql("day")


def test_it_puts_a_late_run_in_the_bucket_of_its_start_time(fleet):
    agents, versions = fleet
    agent, version = agents[0], versions[agents[0].pk][0]
    make_run(agent, version=version, started_at=datetime(2026, 3, 5, 10, 15, tzinfo=UTC), cost_usd="1.00")
    services.rollup_refresh()
    assert HourlyRollup.objects.get().bucket_start == datetime(2026, 3, 5, 10, tzinfo=UTC)

    # Arrives now, but ran three days earlier at 23:59.
    make_run(agent, version=version, started_at=datetime(2026, 3, 2, 23, 59, 30, tzinfo=UTC), cost_usd="2.50")
    assert services.rollup_refresh() == 1
    late = HourlyRollup.objects.get(bucket_start=datetime(2026, 3, 2, 23, tzinfo=UTC))
    assert (late.runs, late.cost_usd) == (1, Decimal("2.50"))
    day = DailyRollup.objects.get(bucket_start=datetime(2026, 3, 2, tzinfo=UTC))
    assert (day.runs, day.cost_usd) == (1, Decimal("2.50"))
    # The bucket that was already there is untouched.
    assert HourlyRollup.objects.get(bucket_start=datetime(2026, 3, 5, 10, tzinfo=UTC)).runs == 1
    assert DailyRollup.objects.count() == 2


def test_it_waits_for_the_settle_delay_before_counting_a_run(fleet, settings):
    settings.REPORTS_ROLLUP_SETTLE_SECONDS = 120
    agents, _ = fleet
    make_run(agents[0], started_at=BASE)
    assert services.rollup_refresh() == 0  # received under two minutes ago: not yet
    from django.utils import timezone

    assert services.rollup_refresh(now=timezone.now() + timedelta(minutes=3)) == 1
    assert HourlyRollup.objects.get().runs == 1


def test_percentiles_come_from_the_merged_histograms():
    a, b = empty_histogram(), empty_histogram()
    for ms in [5] * 90:
        a[bisect_right(EDGES_MS, ms)] += 1
    for ms in [2000] * 10:
        b[bisect_right(EDGES_MS, ms)] += 1
    merged = merge([a, b])
    assert sum(merged) == 100
    assert percentile_ms(merged, 50) == EDGES_MS[0]  # under 10 ms
    p95 = percentile_ms(merged, 95)
    assert 2000 < p95 <= 2000 * 1.19  # upper edge of 2000 ms's bucket: within one bucket (19 %)
    assert percentile_ms(empty_histogram(), 95) is None


# --- five-minute rollups (within their retention) -------------------------------------------

FINE_SQL = """
SELECT agent_id, version_id, date_bin('5 minutes', started_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
       count(*), count(*) FILTER (WHERE outcome = 'resolved'), count(*) FILTER (WHERE outcome = 'escalated'),
       count(*) FILTER (WHERE outcome = 'failed'), count(*) FILTER (WHERE outcome = 'blocked'),
       count(*) FILTER (WHERE outcome = 'abandoned'), count(*) FILTER (WHERE status <> 'ok'),
       count(*) FILTER (WHERE outcome = 'escalated' OR human_minutes > 0),
       sum(policy_blocks), sum(tool_calls), sum(input_tokens), sum(output_tokens),
       sum(cost_usd), sum(human_minutes), sum(latency_ms),
       count(*) FILTER (WHERE status <> 'ok' OR outcome = 'failed'), array_agg(latency_ms)
FROM telemetry_run WHERE (%s IS NULL OR agent_id = %s) GROUP BY 1, 2, 3
"""
FINE_FIELDS = [*FIELDS, "errored_or_failed"]


def direct_fine_sql(agent_id=None) -> dict:
    """Five-minute truth, computed independently of the rollup code."""
    with connection.cursor() as cursor:
        cursor.execute(FINE_SQL, [agent_id, agent_id])
        rows = cursor.fetchall()
    out = {}
    for agent, version_id, bucket, *values in rows:
        latencies = values.pop()
        hist = empty_histogram()
        for ms in latencies:
            hist[bisect_right(EDGES_MS, ms)] += 1
        record = dict(zip(FINE_FIELDS, [int(v) if not isinstance(v, Decimal) else v for v in values], strict=True))
        record["latency_hist"] = hist
        out[(agent, version_id, bucket.astimezone(UTC))] = record
    return out


def stored_fine(agent_id=None) -> dict:
    rows = FiveMinuteRollup.objects.all() if agent_id is None else FiveMinuteRollup.objects.filter(agent_id=agent_id)
    return {
        (r["agent_id"], r["version_id"], r["bucket_start"]): {k: r[k] for k in [*FINE_FIELDS, "latency_hist"]}
        for r in rows.values("agent_id", "version_id", "bucket_start", "latency_hist", *FINE_FIELDS)
    }


def recent_base() -> datetime:
    """Three days ago, on the hour: inside the five-minute retention."""
    from django.utils import timezone

    return (timezone.now() - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(run_strategy, min_size=1, max_size=40), late=st.lists(run_strategy, max_size=10))
def test_five_minute_rows_match_direct_sql_and_hours_are_their_sums(fleet, first, late):
    """GIVEN random runs within the last days WHEN the pass runs (twice, then a rebuild, then late runs)
    THEN five-minute rows equal a direct SQL aggregation, and hourly and daily rows still do too."""
    for model in (Run, FiveMinuteRollup, HourlyRollup, DailyRollup, RollupState):
        model.objects.all().delete()
    base = recent_base()
    _insert(fleet, first, base)
    services.rollup_refresh()
    assert stored_fine() == direct_fine_sql()
    assert stored(HourlyRollup) == direct_sql("hour")
    assert stored(DailyRollup) == direct_sql("day")

    fine = stored_fine()
    assert services.rollup_refresh() == 0
    services.rollup_rebuild(start=base - timedelta(days=1), end=base + timedelta(days=5))
    assert stored_fine() == fine

    _insert(fleet, late, base)
    services.rollup_refresh()
    assert stored_fine() == direct_fine_sql()
    assert stored(HourlyRollup) == direct_sql("hour")


def test_one_agents_catch_up_recomputes_the_buckets_of_its_late_runs(fleet, settings):
    """GIVEN a pass ran, then a late run (started days ago) and a fresh one arrived WHEN one agent
    catches up THEN the late run's bucket is recomputed (equal to direct SQL), the fresh run is left
    to raw reads after the returned moment (the watermark's floor), the other agent's rows and the
    watermark are untouched, and catching up again changes nothing."""
    agents, versions = fleet
    base = recent_base()
    make_run(agents[0], version=versions[agents[0].pk][0], started_at=base + timedelta(minutes=7))
    make_run(agents[1], started_at=base + timedelta(minutes=7))
    services.rollup_refresh()
    watermark = RollupState.objects.get().watermark
    make_run(agents[0], version=versions[agents[0].pk][0], started_at=base + timedelta(minutes=8), outcome="failed")
    make_run(agents[0], started_at=base + timedelta(minutes=31), status="timeout")
    make_run(agents[1], started_at=base + timedelta(minutes=9))
    other_before = stored_fine(agents[1].pk)

    complete_before = telemetry_services.rollup_catch_up_agent(agent_id=agents[0].pk)
    assert complete_before == watermark.replace(minute=watermark.minute - watermark.minute % 5, second=0, microsecond=0)
    assert stored_fine(agents[0].pk) == direct_fine_sql(agents[0].pk)
    assert stored_fine(agents[1].pk) == other_before
    assert RollupState.objects.get().watermark == watermark
    assert telemetry_services.rollup_catch_up_agent(agent_id=agents[0].pk) == complete_before
    assert stored_fine(agents[0].pk) == direct_fine_sql(agents[0].pk)


def test_five_minute_rows_past_their_retention_are_dropped_by_the_pass(fleet):
    agents, _ = fleet
    make_run(agents[0], started_at=recent_base())
    make_run(agents[0], started_at=BASE)  # March: hourly and daily rows only
    services.rollup_refresh()
    assert {r.bucket_start for r in FiveMinuteRollup.objects.all()} == {recent_base()}
    assert HourlyRollup.objects.count() == 2

    from django.utils import timezone

    make_run(agents[1], started_at=recent_base())
    services.rollup_refresh(now=timezone.now() + timedelta(days=40))  # the recent row is old by then
    assert not FiveMinuteRollup.objects.exists()
    assert HourlyRollup.objects.count() == 3
