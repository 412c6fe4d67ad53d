"""Faults under load (issue 14, item 2): 16 clients post run batches for about a minute to a real
gunicorn on loopback while the server's database connections are killed twice and a web worker
once. The clients see 503s (with Retry-After) or dropped connections, which they retry, and
never a 500; every run the server acknowledged is stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest
import requests

from bench import harness
from bench.telemetry import run_payload as _run_payload

CLIENTS = 16
BATCH = 20
SECONDS = float(os.environ.get("QUORUM_FAULTS_SECONDS", "60"))


@pytest.fixture
def server():
    """A fresh database of its own (a unique name: parallel runs never collide), a bench agent
    and its key, gunicorn with 3 workers (the benchmark harness's stack)."""
    with harness.Stack("faults", workers=3) as stack:
        secret = stack.agent_key()
        yield {"base": stack.url, "secret": secret, "pg": stack.pg, "db": stack.db, "process": stack.procs[0]}


def _kill_database_connections(pg: str, db: str) -> int:
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [db],
        ).fetchall()
    return len(rows)


def _kill_one_worker(master_pid: int) -> int:
    children = subprocess.run(  # noqa: S603
        ["/usr/bin/pgrep", "-P", str(master_pid)],
        capture_output=True,
        text=True,
        check=True,  # noqa: S607
    ).stdout.split()
    os.kill(int(children[0]), signal.SIGKILL)
    return int(children[0])


class _Poster:
    """One client: posts a batch until the server acknowledges it, as the README tells agents to
    (429/503: wait Retry-After, capped at 1 s here; a dropped connection: a new one)."""

    def __init__(self, server: dict, statuses: Counter, lock: threading.Lock):
        self.url = f"{server['base']}/api/v1/runs/batch/"
        self.headers = {"Authorization": f"Bearer {server['secret']}", "Content-Type": "application/json"}
        self.statuses, self.lock = statuses, lock
        self.session = requests.Session()

    def until_acknowledged(self, body: bytes, give_up_at: float) -> set[str] | None:
        while time.monotonic() < give_up_at:
            try:
                response = self.session.post(self.url, data=body, headers=self.headers, timeout=60)
            except requests.ConnectionError:
                self._count("connection reset")
                self.session = requests.Session()
                time.sleep(0.2)
                continue
            self._count(response.status_code)
            if response.status_code == 200:
                return {r["run_id"] for r in response.json()["results"] if r["result"] in ("created", "duplicate")}
            if response.status_code not in (429, 503):
                return None
            time.sleep(min(float(response.headers["Retry-After"]), 1.0))
        return None

    def _count(self, status: int | str) -> None:
        with self.lock:
            self.statuses[status] += 1


def test_clients_see_503s_not_500s_and_acknowledged_runs_are_stored_once(server):
    statuses: Counter[int | str] = Counter()
    acknowledged: set[str] = set()
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    now = datetime.now(UTC)

    def client(number: int) -> None:
        poster = _Poster(server, statuses, lock)
        sequence = 0
        while time.monotonic() < stop:
            runs = [_run_payload(sequence * BATCH + i, f"c{number}", now) for i in range(BATCH)]
            sequence += 1
            done = poster.until_acknowledged(json.dumps({"runs": runs}).encode(), give_up_at=stop + 30)
            if done is None:
                return  # an unexpected answer: counted, and checked below
            with lock:
                acknowledged.update(done)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    faults = []
    for at, fault in (
        (0.25, lambda: ("connections killed", _kill_database_connections(server["pg"], server["db"]))),
        (0.45, lambda: ("worker killed", _kill_one_worker(server["process"].pid))),
        (0.65, lambda: ("connections killed", _kill_database_connections(server["pg"], server["db"]))),
    ):
        time.sleep(max(0.0, stop - SECONDS * (1 - at) - time.monotonic()))
        faults.append(fault())
    for thread in threads:
        thread.join(timeout=SECONDS + 120)

    print(f"faults: {faults}; answers: {dict(statuses)}; acknowledged runs: {len(acknowledged)}")
    assert [name for name, _ in faults].count("connections killed") == 2 and faults[0][1] > 0
    assert 500 not in statuses and not any(isinstance(s, int) and s >= 500 and s != 503 for s in statuses), statuses
    assert set(statuses) <= {200, 429, 503, "connection reset"}, statuses
    assert statuses[200] > CLIENTS
    with psycopg.connect(f"{server['pg']}/{server['db']}") as conn:
        stored = conn.execute("SELECT run_id, count(*) FROM telemetry_run GROUP BY run_id").fetchall()
    counts = dict(stored)
    assert all(count == 1 for count in counts.values())
    assert acknowledged <= set(counts), f"{len(acknowledged - set(counts))} acknowledged runs are missing"
