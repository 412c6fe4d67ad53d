"""Drift windows come from telemetry's five-minute rollups, and equal a scan of the raw runs."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from evals import services
from evals.selectors import OUTCOMES, telemetry_window, window_stats
from telemetry import selectors as telemetry_selectors
from telemetry import services as telemetry_services
from telemetry.models import FiveMinuteRollup, Run

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def spread_runs(agent, *, hours: int, count: int, seed: int) -> None:
    """``count`` runs over the last ``hours`` (to one second before NOW): every outcome and status."""
    rng = random.Random(seed)
    runs = []
    for i in range(count):
        started = NOW - timedelta(seconds=rng.randint(1, hours * 3600))
        latency = int(rng.lognormvariate(7, 0.5))
        runs.append(
            Run(
                agent=agent,
                run_id=f"s{seed}-{i}",
                started_at=started,
                ended_at=started + timedelta(milliseconds=latency),
                latency_ms=latency,
                status=rng.choice(["ok"] * 8 + ["error", "timeout"]),
                outcome=rng.choice(OUTCOMES),
                cost_usd=Decimal(rng.randint(1, 40_000)) / 1_000_000,
            )
        )
    Run.objects.bulk_create(runs)


def test_windows_from_rollups_equal_a_raw_scan_at_any_edges(agent, settings):
    """GIVEN runs over three hours and windows whose edges fall inside five-minute buckets
    WHEN the windows are read from rollups THEN runs, outcomes, errors and cost equal the raw scan's,
    and the p95 (interpolated in its histogram bucket) is close to the exact one."""
    spread_runs(agent, hours=3, count=1500, seed=1)
    complete_before = telemetry_services.rollup_catch_up_agent(agent_id=agent.pk)
    rng = random.Random(2)
    windows = {
        f"w{i}": (NOW - timedelta(seconds=rng.randint(600, 10_000)), NOW - timedelta(seconds=rng.randint(0, 599)))
        for i in range(8)
    }
    windows["aligned"] = (NOW - timedelta(hours=2), NOW)
    windows["short"] = (NOW - timedelta(minutes=7, seconds=13), NOW - timedelta(minutes=3))
    counts = telemetry_selectors.run_windows(
        agent_id=agent.pk, windows=windows, complete_before=complete_before, latency=set(windows), now=NOW
    )
    for name, (start, end) in windows.items():
        rolled = window_stats(counts[name])
        raw = telemetry_window(agent_id=agent.pk, start=start, end=end)
        assert (rolled.runs, rolled.outcomes, rolled.errors, rolled.cost_total_usd) == (
            raw.runs,
            raw.outcomes,
            raw.errors,
            raw.cost_total_usd,
        ), name
        if raw.runs >= 20:
            # Within one bucket (edges 19 % apart) of the exact p95.
            assert 1 / 1.19 <= rolled.latency_p95_ms / raw.latency_p95_ms <= 1.19, name


def test_the_check_reads_whole_buckets_from_rollups_not_raw_runs(agent, settings):
    """GIVEN the rollup pass is current WHEN the raw runs inside whole five-minute buckets are
    removed behind its back THEN the drift windows still count them: they come from the rollups,
    and only the partial buckets at the windows' edges are read from raw runs."""
    settings.REPORTS_ROLLUP_SETTLE_SECONDS = 0
    spread_runs(agent, hours=2, count=600, seed=3)
    telemetry_services.rollup_refresh()
    assert FiveMinuteRollup.objects.filter(agent=agent).exists()
    policy = services.driftpolicy_for(agent)
    before = services.drift_windows(agent=agent, policy=policy, now=NOW)

    bucket = telemetry_selectors.rollups.five_minute_floor(NOW - timedelta(minutes=20))
    inside = Run.objects.filter(agent=agent, started_at__gte=bucket, started_at__lt=bucket + timedelta(minutes=5))
    removed = inside.count()
    assert removed > 0
    inside._raw_delete(inside.db)

    after = services.drift_windows(agent=agent, policy=policy, now=NOW)
    assert after["recent"].runs == before["recent"].runs
    assert telemetry_window(agent_id=agent.pk, start=before["recent"].start, end=NOW).runs == (
        before["recent"].runs - removed
    )
