"""Action-gate benchmark (``make bench`` or ``python -m bench gate``).

In one run, on its own freshly migrated database (``quorum_bench_gate`` by default), with
gunicorn started and stopped here on loopback (the harness of ``bench/telemetry.py``):

* automatically decided action requests — ``POST /api/v1/action-requests/`` for
  ``payments.refund`` under the seeded policy, each with a new idempotency key, every answer
  ``allowed`` by rule 2 (so each request parses, validates, evaluates the rules, redacts and
  stores one row with its audit entry);
* the bare authenticated endpoint ``GET /api/v1/agent/whoami/`` (same key, same auth and
  throttle) under the same load: the same number of requests from the same 16 clients.

Prints requests/s of both and the ratio (target ≥ 0.6). Options: ``--requests M`` per side
(default 1600), ``--clients C`` (16), ``--workers W`` gunicorn workers (4), ``--db NAME``.
PostgreSQL from ``BENCH_PG``, Redis from ``BENCH_REDIS_URL`` (as the telemetry bench).
Everything is bounded by timeouts; the database is dropped at the end."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from bench.telemetry import PYTHON, ROOT, SETUP, TIMEOUT, _env, _free_port, _wait_for

POLICY_SETUP = """
import django; django.setup()
from registry.models import AgentVersion, Tool, ToolGrant
from actions.demo import REFUND_POLICY, ensure_support_managers
from actions.services import policy_version_create, policy_current
ensure_support_managers(password="bench-only")
tool, _ = Tool.objects.get_or_create(name="payments.refund", defaults={"system": "Stripe", "action_tier": 3})
if policy_current(tool=tool) is None:
    policy_version_create(tool=tool, **REFUND_POLICY)
# The gate refuses tools the deployed version was not granted (a bench shortcut past the
# frozen-grant rule; the real path is a tool-grant request).
version = AgentVersion.objects.get(agent__slug="bench-agent", state="deployed")
if not version.grants.filter(tool=tool).exists():
    ToolGrant.objects.bulk_create([ToolGrant(version=version, tool=tool, constraints={})])
    version.refresh_bundle_digest()
"""


def bench_load(base: str, secret: str, total: int, *, gate: bool, clients: int) -> float:
    """Requests/s from ``clients`` concurrent clients: gate POSTs (each must answer ``allowed``)
    or the bare authenticated GET."""
    import requests

    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    run = uuid.uuid4().hex[:8]
    local = threading.local()

    def body(i: int, tag: str) -> bytes:
        params = {
            "amount_usd": 10 + i % 40,
            "customer_tier": "pro",
            "order_id": f"A-{i}",
            "card_number": "4111111111111111",
        }
        return json.dumps(
            {"tool": "payments.refund", "idempotency_key": f"{tag}-{run}-{i}", "parameters": params}
        ).encode()

    def call(args) -> None:
        i, tag = args
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        if gate:
            response = session.post(f"{base}/api/v1/action-requests/", data=body(i, tag), headers=headers, timeout=60)
            if response.status_code != 201 or response.json()["status"] != "allowed":
                raise RuntimeError(f"gate answered {response.status_code}: {response.text[:200]}")
        else:
            session.get(f"{base}/api/v1/agent/whoami/", headers=headers, timeout=60).raise_for_status()

    with ThreadPoolExecutor(clients) as pool:  # warm-up: connections, imports, caches
        list(pool.map(call, [(i, "warm") for i in range(min(clients * 2, total))]))
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(call, [(i, "run") for i in range(total)]))
    return total / (time.perf_counter() - start)


def main(args: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="bench gate")
    parser.add_argument("names", nargs="*")
    parser.add_argument("--requests", type=int, default=1600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--db", default="quorum_bench_gate")
    opts = parser.parse_args([a for a in (args or []) if a != "gate"])
    import psycopg

    pg = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    db_url = f"{pg}/{opts.db}"
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{opts.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{opts.db}"')
    env = _env(db_url, redis_url)
    try:
        subprocess.run(  # noqa: S603 - our own interpreter, fixed argv
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=TIMEOUT
        )
        out = subprocess.run(  # noqa: S603
            [PYTHON, "-c", SETUP], cwd=ROOT, env=env, check=True, timeout=TIMEOUT, capture_output=True, text=True
        ).stdout.split()
        secret = out[-1]
        subprocess.run([PYTHON, "-c", POLICY_SETUP], cwd=ROOT, env=env, check=True, timeout=TIMEOUT)  # noqa: S603
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(  # noqa: S603
            [PYTHON, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(opts.workers),
             "--log-level", "warning", "--timeout", "120"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        figures: dict[str, float] = {}
        try:
            _wait_for(f"{base}/healthz", time.time() + 60)
            # Alternate the two sides so neither gets a quieter machine.
            gate, bare = [], []
            for _ in range(2):
                gate.append(bench_load(base, secret, opts.requests // 2, gate=True, clients=opts.clients))
                bare.append(bench_load(base, secret, opts.requests // 2, gate=False, clients=opts.clients))
            figures["gate_requests_per_s"] = sum(gate) / len(gate)
            figures["bare_requests_per_s"] = sum(bare) / len(bare)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    finally:
        with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{opts.db}" WITH (FORCE)')
    figures["ratio"] = figures["gate_requests_per_s"] / figures["bare_requests_per_s"]
    gate_rate = figures["gate_requests_per_s"]
    print(f"gate POST (allowed), {opts.clients} clients  {gate_rate:>8,.0f} req/s  ({opts.requests} requests)")
    print(f"bare auth GET, {opts.clients} clients        {figures['bare_requests_per_s']:>8,.0f} req/s")
    print(f"gate/bare = {figures['ratio']:.2f}  (target ≥ 0.60)", flush=True)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
