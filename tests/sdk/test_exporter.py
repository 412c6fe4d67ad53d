"""The background exporter against a live Quorum: batches bounded by size and by time, flush at
interpreter exit, and a bounded queue that drops (and counts) instead of blocking the agent when
Quorum is down."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from .proxy import Proxy
from .test_client import NOWHERE, run_summary


@pytest.mark.django_db(transaction=True)
def test_runs_go_out_in_batches_bounded_by_size_and_time_and_are_flushed_at_exit(live_server, agent, agent_key):
    from quorum_sdk import QuorumClient

    from telemetry.models import Run

    with Proxy(live_server.url) as proxy, QuorumClient(proxy.url, agent_key, timeout=30) as client:
        exporter = client.exporter(max_batch=10, max_interval=60, register_atexit=False)
        started = time.monotonic()
        for n in range(25):
            assert exporter.submit(run_summary(f"batch-{n}"))
        submitting = time.monotonic() - started
        # Size bound: two full batches leave at once, without waiting for the (long) interval.
        deadline = time.monotonic() + 15
        while exporter.stats().sent < 20:
            assert time.monotonic() < deadline, exporter.stats()
            time.sleep(0.05)
        assert exporter.stats().queued == 5 or exporter.stats().sent == 20
        assert exporter.flush(15)
        stats = exporter.stats()
        assert (stats.sent, stats.batches, stats.dropped, stats.rejected) == (25, 3, 0, 0)
        assert proxy.statuses("/api/v1/runs/batch/") == [200, 200, 200]
    assert submitting < 0.5  # submit() only queues
    assert Run.objects.filter(agent=agent, run_id__startswith="batch-").count() == 25

    # Time bound: a lone run leaves after max_interval without a flush.
    with QuorumClient(live_server.url, agent_key, timeout=30) as client:
        exporter = client.exporter(max_batch=100, max_interval=0.3, register_atexit=False)
        exporter.submit(run_summary("lone-1"))
        deadline = time.monotonic() + 10
        while exporter.stats().sent < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert exporter.stats().batches == 1

    # Flush on exit: a process that queues runs and simply ends still delivers them (atexit).
    script = textwrap.dedent(
        f"""
        from datetime import UTC, datetime
        from quorum_sdk import QuorumClient
        client = QuorumClient({live_server.url!r}, {agent_key!r})
        exporter = client.exporter(max_batch=100, max_interval=60)
        now = datetime.now(UTC).isoformat()
        for n in range(3):
            exporter.submit({{"run_id": f"exit-{{n}}", "version_label": "1.0", "started_at": now,
                              "ended_at": now, "outcome": "resolved"}})
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Run.objects.filter(agent=agent, run_id__startswith="exit-").count() == 3


def test_when_quorum_is_down_runs_are_dropped_and_counted_never_blocking():
    from quorum_sdk import QuorumClient, RetryPolicy

    with QuorumClient(NOWHERE, "k", timeout=1) as client:
        exporter = client.exporter(
            max_batch=5,
            max_interval=0.05,
            max_queue=10,
            retry=RetryPolicy(max_attempts=2, base_delay=0.05),
            register_atexit=False,
            shutdown_timeout=1,
        )
        started = time.monotonic()
        accepted = [exporter.submit(run_summary(f"down-{n}")) for n in range(100)]
        assert time.monotonic() - started < 0.5  # never blocks on a dead Quorum
        assert accepted.count(False) >= 85  # the bounded queue (10) plus what the thread took
        exporter.close()
    stats = exporter.stats()
    assert stats.sent == 0
    assert stats.dropped == 100  # every run accounted for: refused by the full queue or undeliverable
    assert exporter.submit(run_summary("after-close")) is False


def test_batch_bounds_are_checked():
    from quorum_sdk import QuorumClient, RunExporter

    with QuorumClient(NOWHERE, "k") as client, pytest.raises(ValueError, match="max_batch"):
        RunExporter(client, max_batch=1001, register_atexit=False)
