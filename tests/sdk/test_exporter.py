"""The background exporter against a live Quorum: batches bounded by size and by time, flush at
interpreter exit, and a bounded queue that drops (and counts) instead of blocking the agent when
Quorum is down."""

from __future__ import annotations

import queue
import subprocess
import sys
import textwrap
import threading
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


def _small_exporter(client):
    """Batches of 5, a queue of 10, a short interval, two quick attempts, a 1 s shutdown."""
    from quorum_sdk import RetryPolicy

    return client.exporter(
        max_batch=5,
        max_interval=0.05,
        max_queue=10,
        retry=RetryPolicy(max_attempts=2, base_delay=0.05),
        register_atexit=False,
        shutdown_timeout=1,
    )


def test_when_quorum_is_down_runs_are_dropped_and_counted():
    from quorum_sdk import QuorumClient

    with QuorumClient(NOWHERE, "k", timeout=1) as client:
        exporter = _small_exporter(client)
        accepted = [exporter.submit(run_summary(f"down-{n}")) for n in range(100)]
        # How many the thread takes off the queue while these are submitted depends on how the
        # machine schedules the two threads (a refused connection fails at once); the bounds
        # on the queue and on submit's time are proven where the send is stuck, below.
        assert accepted.count(False) > 0
        exporter.close()
    stats = exporter.stats()
    assert stats.sent == 0
    assert stats.dropped == 100  # every run accounted for: refused by the full queue or undeliverable
    assert exporter.submit(run_summary("after-close")) is False


def test_when_quorum_hangs_submit_never_waits_and_close_is_bounded():
    """Quorum accepts connections and never answers: the thread is stuck in its first send (at
    least 2 x 10 s), so the bounds hold whatever the machine's load. A submit that waited on
    the network would take 10 s; the queue (10) plus the one batch the thread holds (5) is all
    that is accepted; ``close()`` gives up after ``shutdown_timeout`` and counts every run."""
    import socket

    from quorum_sdk import QuorumClient

    silent = socket.create_server(("127.0.0.1", 0), backlog=64)  # listens, never accept()s
    with silent, QuorumClient(f"http://127.0.0.1:{silent.getsockname()[1]}", "k", timeout=10) as client:
        exporter = _small_exporter(client)
        started = time.monotonic()
        accepted = [exporter.submit(run_summary(f"hung-{n}")) for n in range(100)]
        assert time.monotonic() - started < 5  # one submit waiting on the send would take 10 s
        assert 10 <= accepted.count(True) <= 15
        started = time.monotonic()
        exporter.close()
        assert time.monotonic() - started < 8  # shutdown_timeout (1 s) + the join (0.5 s), not the send
        stats = exporter.stats()
        assert (stats.sent, stats.dropped, stats.batches, stats.queued) == (0, 100, 0, 0)


def test_batch_bounds_are_checked():
    from quorum_sdk import QuorumClient, RunExporter

    with QuorumClient(NOWHERE, "k") as client, pytest.raises(ValueError, match="max_batch"):
        RunExporter(client, max_batch=1001, register_atexit=False)


class RecordingClient:
    """Stands in for ``QuorumClient``: records each batch; ``hold`` keeps a send waiting (a
    Quorum that does not answer) until released."""

    def __init__(self, hold: bool = False):
        self.batches: list[list[str]] = []
        self.sending = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self._seen = threading.Condition()

    def send_runs(self, runs, *, retry=None):
        self.sending.set()
        self.release.wait(60)
        with self._seen:
            self.batches.append([run["run_id"] for run in runs])
            self._seen.notify_all()
        return {"created": len(runs), "duplicates": 0, "invalid": 0, "results": []}

    def wait_for_runs(self, count: int, timeout: float) -> bool:
        with self._seen:
            return self._seen.wait_for(lambda: sum(map(len, self.batches)) >= count, timeout)


def test_a_full_batch_leaves_at_once_even_when_its_runs_arrive_as_the_thread_goes_to_sleep():
    """The lost wake-up: the thread finds the queue empty, then the rest of the batch is
    submitted before it sleeps; those submits must still wake it (not ``max_interval`` later)."""
    from quorum_sdk import RunExporter

    client = RecordingClient()
    exporter = RunExporter(client, max_batch=10, max_interval=600, register_atexit=False)
    get_nowait = exporter._queue.get_nowait
    raced = threading.Event()

    def get_nowait_then_the_rest_arrives():
        try:
            return get_nowait()
        except queue.Empty:
            if not raced.is_set():
                raced.set()  # the window: after the empty read, before the thread sleeps
                rest = threading.Thread(target=lambda: [exporter.submit(run_summary(f"race-{n}")) for n in range(9)])
                rest.start()
                rest.join()
            raise

    exporter._queue.get_nowait = get_nowait_then_the_rest_arrives
    assert exporter.submit(run_summary("race-first"))
    assert client.wait_for_runs(10, timeout=30), exporter.stats()  # far less than max_interval
    assert raced.is_set()
    assert client.batches == [["race-first"] + [f"race-{n}" for n in range(9)]]
    exporter.close()


def test_close_counts_a_send_it_could_not_wait_for_once_and_its_stats_stay_final():
    """A send still under way when ``close()`` gives up is counted as dropped by ``close()``;
    when that send ends later it does not count again (as sent or dropped)."""
    from quorum_sdk import RunExporter

    client = RecordingClient(hold=True)
    exporter = RunExporter(client, max_batch=5, max_interval=0.01, register_atexit=False)
    for n in range(3):
        assert exporter.submit(run_summary(f"slow-{n}"))
    assert client.sending.wait(30)
    exporter.close(timeout=0.1)
    at_close = exporter.stats()
    assert (at_close.sent, at_close.dropped, at_close.batches) == (0, 3, 0)
    client.release.set()
    assert client.wait_for_runs(3, timeout=30)
    exporter._thread.join(30)
    assert not exporter._thread.is_alive()
    assert exporter.stats() == at_close


def test_a_run_the_encoder_refuses_is_dropped_and_the_exporter_goes_on():
    """An unexpected error in a send (here a value JSON cannot encode) costs that batch only:
    the thread lives on, so later runs are still handled and ``flush()`` does not hang."""
    from quorum_sdk import QuorumClient, RetryPolicy

    with QuorumClient(NOWHERE, "k", timeout=1) as client:
        exporter = client.exporter(
            max_batch=5, max_interval=0.05, retry=RetryPolicy(max_attempts=1), register_atexit=False
        )
        assert exporter.submit(run_summary("unencodable", metadata={"value": object()}))
        assert exporter.flush(30)
        assert exporter.submit(run_summary("after"))
        assert exporter.flush(30)  # the thread is still there to take it
        stats = exporter.stats()
        assert (stats.sent, stats.dropped, stats.queued) == (0, 2, 0)
