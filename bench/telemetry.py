"""Telemetry ingest benchmark (``make bench`` or ``python -m bench telemetry``).

In one run, on its own freshly migrated database (``quorum_bench`` by default), with gunicorn
started and stopped here on loopback:

(a) raw psycopg ``COPY`` of N run rows into ``telemetry_run`` — the floor nothing beats;
(b) the same N rows through ``POST /api/v1/runs/batch/`` (1,000 per request, 2 clients);
(c) single-run ``POST /api/v1/runs/`` from 16 concurrent clients, and the bare authenticated
    endpoint ``GET /api/v1/agent/whoami/`` under the same load.

Prints rows/s and the ratios b/a (target ≥ 0.25) and c/bare (target ≥ 0.5).
Options: ``--rows N`` (default 20000), ``--requests M`` per load test (default 1600),
``--workers W`` gunicorn workers (default 4), ``--db NAME``. PostgreSQL comes from
``BENCH_PG`` (default ``postgres://postgres@127.0.0.1:5432``), Redis from ``BENCH_REDIS_URL``
(default ``redis://127.0.0.1:6379/15``). Everything is bounded by timeouts."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TIMEOUT = 300

SETUP = """
import django; django.setup()
from django.utils import timezone
from registry.models import Team, Agent, AgentVersion
from django.contrib.auth import get_user_model
from registry.services import agent_key_issue
user, _ = get_user_model().objects.get_or_create(username="bench")
team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
agent, _ = Agent.objects.get_or_create(slug="bench-agent", defaults=dict(name="Bench", purpose="bench",
    unit_of_work="run", kpi_name="runs", owner_team=team, owner=user, status="production"))
v, _ = AgentVersion.objects.get_or_create(agent=agent, label="1.0", defaults=dict(model_provider="openai",
    model_name="gpt-4o", prompt_ref="0" * 64, state="deployed", approved_at=timezone.now()))
_key, secret = agent_key_issue(agent=agent, name="bench")
print(agent.pk, secret)
"""


def _env(db_url: str, redis_url: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789",
        "DEBUG": "0",
        "QUORUM_HTTPS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TELEMETRY_RATE_LIMIT_PER_MINUTE": str(10**9),
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
    }


def _run_payload(i: int, prefix: str, now: datetime) -> dict:
    started = now - timedelta(minutes=30, seconds=i % 1000)
    return {
        "run_id": f"{prefix}-{i}",
        "version_label": "1.0",
        "model": "gpt-4o",
        "channel": "chat",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=12)).isoformat(),
        "outcome": "resolved" if i % 10 else "escalated",
        "reason": None if i % 10 else "ambiguity",
        "input_tokens": 1200 + i % 300,
        "output_tokens": 240,
        "cost_usd": "0.005400",
        "tool_calls": 2,
        "tools_used": [],
        "trace_id": f"{i:032x}",
        "metadata": {"ticket": f"T-{i}"},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_copy(pg_url: str, agent_id: int, rows: int) -> float:
    """(a) rows/s of a raw COPY of ``rows`` run rows."""
    import psycopg

    now = datetime.now(UTC)
    cols = (
        "agent_id, run_id, version_label, bundle_digest, model, channel, started_at, ended_at, latency_ms, status, "
        "outcome, reason, input_tokens, output_tokens, cost_usd, tool_calls, tools_used, policy_blocks, "
        "human_minutes, trace_id, metadata, received_at"
    )
    data = []
    for i in range(rows):
        p = _run_payload(i, "copy", now)
        data.append(
            (agent_id, p["run_id"], "1.0", "", "gpt-4o", "chat", datetime.fromisoformat(p["started_at"]),
             datetime.fromisoformat(p["ended_at"]), 12000, "ok", p["outcome"], p["reason"] or "",
             p["input_tokens"], 240, Decimal("0.0054"), 2, "[]", 0, Decimal("0"), p["trace_id"],
             json.dumps(p["metadata"]), now)
        )  # fmt: skip
    with psycopg.connect(pg_url) as conn:
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY telemetry_run ({cols}) FROM STDIN") as copy:  # noqa: S608
            for row in data:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute("DELETE FROM telemetry_run WHERE run_id LIKE 'copy-%'")
        conn.commit()
    return rows / elapsed


def bench_batch(base: str, secret: str, rows: int, clients: int = 2) -> float:
    """(b) rows/s through POST /api/v1/runs/batch/ in batches of 1,000."""
    import requests

    now = datetime.now(UTC)
    bodies = []
    for start in range(0, rows, 1000):
        runs = [_run_payload(i, "batch", now) for i in range(start, min(rows, start + 1000))]
        bodies.append(json.dumps({"runs": runs}).encode())
    local = threading.local()

    def post(body: bytes) -> int:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        response = session.post(
            f"{base}/api/v1/runs/batch/",
            data=body,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            timeout=120,
        )
        response.raise_for_status()
        return response.json()["created"]

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        created = sum(pool.map(post, bodies))
    elapsed = time.perf_counter() - start
    if created != rows:
        raise RuntimeError(f"batch ingest stored {created} of {rows} rows")
    return rows / elapsed


def bench_load(base: str, secret: str, requests_total: int, *, single: bool, clients: int = 16) -> float:
    """(c) requests/s from ``clients`` concurrent clients: single-run POSTs, or the bare endpoint."""
    import requests

    now = datetime.now(UTC)
    prefix = f"single-{uuid.uuid4().hex[:6]}"
    bodies = [json.dumps(_run_payload(i, prefix, now)).encode() for i in range(requests_total)] if single else []
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    local = threading.local()

    def call(i: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        if single:
            response = session.post(f"{base}/api/v1/runs/", data=bodies[i], headers=headers, timeout=60)
            if response.status_code != 201:
                raise RuntimeError(f"single POST answered {response.status_code}: {response.text[:200]}")
        else:
            response = session.get(f"{base}/api/v1/agent/whoami/", headers=headers, timeout=60)
            response.raise_for_status()

    with ThreadPoolExecutor(clients) as pool:  # warm-up: connections, imports
        list(pool.map(call, range(min(clients * 2, requests_total))))
    if single:
        bodies = [json.dumps(_run_payload(i, prefix + "b", now)).encode() for i in range(requests_total)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(call, range(requests_total)))
    return requests_total / (time.perf_counter() - start)


def _wait_for(url: str, deadline: float) -> None:
    import requests

    while time.time() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer {url} in time")


def main(args: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="bench telemetry")
    parser.add_argument("names", nargs="*")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1600)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--db", default="quorum_bench")
    opts = parser.parse_args([a for a in (args or []) if a != "telemetry"])
    import psycopg

    pg = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    db_url = f"{pg}/{opts.db}"
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{opts.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{opts.db}"')
    env = _env(db_url, redis_url)
    subprocess.run(  # noqa: S603 - our own interpreter, fixed argv
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=TIMEOUT
    )
    out = subprocess.run(  # noqa: S603
        [PYTHON, "-c", SETUP], cwd=ROOT, env=env, check=True, timeout=TIMEOUT, capture_output=True, text=True
    ).stdout.split()
    agent_id, secret = int(out[-2]), out[-1]

    figures: dict[str, float] = {}
    figures["copy_rows_per_s"] = bench_copy(db_url, agent_id, opts.rows)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603
        [PYTHON, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(opts.workers),
         "--log-level", "warning", "--timeout", "120"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        _wait_for(f"{base}/healthz", time.time() + 60)
        figures["batch_rows_per_s"] = bench_batch(base, secret, opts.rows)
        figures["single_posts_per_s"] = bench_load(base, secret, opts.requests, single=True)
        figures["bare_requests_per_s"] = bench_load(base, secret, opts.requests, single=False)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    figures["b_over_a"] = figures["batch_rows_per_s"] / figures["copy_rows_per_s"]
    figures["c_over_bare"] = figures["single_posts_per_s"] / figures["bare_requests_per_s"]
    print(f"(a) COPY                        {figures['copy_rows_per_s']:>10,.0f} rows/s  ({opts.rows} rows)")
    print(f"(b) batch API (1,000/request)   {figures['batch_rows_per_s']:>10,.0f} rows/s")
    print(f"(c) single POST, 16 clients     {figures['single_posts_per_s']:>10,.0f} runs/s  ({opts.requests} requests)")
    print(f"    bare auth GET, 16 clients   {figures['bare_requests_per_s']:>10,.0f} req/s")
    print(f"b/a     = {figures['b_over_a']:.2f}  (target ≥ 0.25)")
    print(f"c/bare  = {figures['c_over_bare']:.2f}  (target ≥ 0.50)", flush=True)
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{opts.db}" WITH (FORCE)')
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
