"""Monitors fixtures: five-minute rollup rows written directly (synthetic telemetry at exact
windows), and notify's deliveries run at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.latency import bucket_index, empty_histogram
from telemetry.models import FiveMinuteRollup

# A fixed, aligned "now": windows end here (the last complete five-minute bucket).
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def fill(
    agent, *, minutes: int, end=NOW, runs=100, bad=0, slow=0, escalations=0, throttled=0, fast_ms=1000, slow_ms=20000
):
    """Write one five-minute row per bucket in [end - minutes, end) with these counts per bucket
    (replacing rows already there)."""
    start = end - timedelta(minutes=minutes)
    FiveMinuteRollup.objects.filter(agent=agent, bucket_start__gte=start, bucket_start__lt=end).delete()
    rows = []
    moment = start
    while moment < end:
        hist = empty_histogram()
        hist[bucket_index(fast_ms)] += runs - slow
        hist[bucket_index(slow_ms)] += slow
        rows.append(
            FiveMinuteRollup(
                agent=agent,
                version=None,
                bucket_start=moment,
                runs=runs,
                successes=runs - bad - escalations,
                escalations=escalations,
                errored_or_failed=bad,
                provider_throttled=throttled,
                latency_hist=hist,
                latency_sum_ms=(runs - slow) * fast_ms + slow * slow_ms,
            )
        )
        moment += timedelta(minutes=5)
    FiveMinuteRollup.objects.bulk_create(rows)


@pytest.fixture
def deliveries(django_capture_on_commit_callbacks):
    """Run the notifications queued by an evaluation in-process (e-mail lands in mail.outbox)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    yield run
    app.conf.task_always_eager = previous
