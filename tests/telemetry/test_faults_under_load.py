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

from bench.telemetry import PYTHON, ROOT, SETUP, TIMEOUT, _env, _free_port, _run_payload, _wait_for

CLIENTS = 16
BATCH = 20
SECONDS = float(os.environ.get("QUORUM_FAULTS_SECONDS", "60"))
DB = "quorum_faults_under_load"


@pytest.fixture
def server():
    """A freshly migrated database of its own, a bench agent and its key, gunicorn with 3 workers."""
    pg = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    env = _env(f"{pg}/{DB}", redis_url)
    subprocess.run(  # noqa: S603 - our own interpreter, fixed argv
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=TIMEOUT
    )
    out = subprocess.run(  # noqa: S603
        [PYTHON, "-c", SETUP], cwd=ROOT, env=env, check=True, timeout=TIMEOUT, capture_output=True, text=True
    ).stdout.split()
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603
        [PYTHON, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "3",
         "--log-level", "warning", "--timeout", "60"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", time.time() + 60)
        yield {"base": f"http://127.0.0.1:{port}", "secret": out[-1], "pg": pg, "process": process}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


def _kill_database_connections(pg: str) -> int:
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [DB],
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
        (0.25, lambda: ("connections killed", _kill_database_connections(server["pg"]))),
        (0.45, lambda: ("worker killed", _kill_one_worker(server["process"].pid))),
        (0.65, lambda: ("connections killed", _kill_database_connections(server["pg"]))),
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
    with psycopg.connect(f"{server['pg']}/{DB}") as conn:
        stored = conn.execute("SELECT run_id, count(*) FROM telemetry_run GROUP BY run_id").fetchall()
    counts = dict(stored)
    assert all(count == 1 for count in counts.values())
    assert acknowledged <= set(counts), f"{len(acknowledged - set(counts))} acknowledged runs are missing"
