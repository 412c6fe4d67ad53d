"""Reports benchmark (``make bench`` or ``python -m bench reports``).

In one run, on its own freshly migrated database (``quorum_bench_reports`` by default):
100 production agents; 10 thousand runs over 90 days are loaded by ``COPY`` and rolled up,
then the portfolio page and one agent's ROI page are timed; then runs are added by ``COPY``
up to 1 million, rolled up again, and both pages timed again. Pages read rollups only, so the
target is: 1M/10k time ratio ≤ 1.5 and the 1M pages under 150 ms at p95. After each rollup
the rollup tables are vacuumed and analysed, as autovacuum would (the steady state, not the
seconds right after a backfill).

Pages are requested through Django's test client (the full middleware, view and template
stack, session login as an executive), ``--requests`` times each after ``--warmup``.
Options: ``--small N`` (10000), ``--large N`` (1000000), ``--agents N`` (100),
``--requests N`` (40), ``--db NAME``. PostgreSQL comes from ``BENCH_PG`` (default
``postgres://postgres@127.0.0.1:5432``). Bounded: the worker is killed after ``--timeout``
seconds (default 1200)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

WORKER = r"""
import json, random, statistics, sys, time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.utils import timezone
from registry.models import Agent, AgentVersion, Team
from reports import services
from telemetry.models import Run

cfg = json.loads(sys.argv[1])
now = timezone.now().replace(minute=0, second=0, microsecond=0)
start = now - timedelta(days=90)
User = get_user_model()
owner = User.objects.create(username="bench-owner")
team = Team.objects.create(slug="bench", name="Bench")
agents = Agent.objects.bulk_create([
    Agent(slug=f"bench-{i:03d}", name=f"Bench agent {i:03d}", purpose="bench", unit_of_work="task",
          kpi_name="tasks", owner_team=team, owner=owner, status="production", risk_tier=1 + i % 3,
          monthly_budget_usd=Decimal(500 + 10 * i), human_cost_per_minute_usd=Decimal("0.75"),
          human_minutes_per_unit=Decimal(5 + i % 20), monthly_infra_cost_usd=Decimal(100),
          monthly_ops_cost_usd=Decimal(150), deployed_at=now - timedelta(days=120 + i))
    for i in range(cfg["agents"])
])
versions = AgentVersion.objects.bulk_create([
    AgentVersion(agent=a, label="1.0", model_provider="openai", model_name="gpt-4o", prompt_ref="0" * 64,
                 state="deployed", bundle_digest="0" * 64) for a in agents
])
exec_user = User.objects.create(username="bench-exec")
exec_user.groups.add(Group.objects.get(name="Executive"))

fields = [f for f in Run._meta.concrete_fields if f.column != "id"]
OUTCOMES = ["resolved"] * 88 + ["escalated"] * 7 + ["failed"] * 3 + ["blocked", "abandoned"]
rng = random.Random(7)
seq = [0]

def copy_runs(n):
    span = int((now - start).total_seconds())
    with connection.cursor() as cur:
        with cur.connection.cursor().copy(
            "COPY telemetry_run (" + ", ".join(f.column for f in fields) + ") FROM STDIN"
        ) as copy:
            for _ in range(n):
                seq[0] += 1
                i = rng.randrange(len(agents))
                started = start + timedelta(seconds=rng.randrange(span))
                latency = int(rng.lognormvariate(7.5, 0.6))
                outcome = rng.choice(OUTCOMES)
                values = {
                    "agent_id": agents[i].pk, "version_id": versions[i].pk, "run_id": f"b{seq[0]}",
                    "version_label": "1.0", "bundle_digest": "", "model": "gpt-4o", "channel": "chat",
                    "started_at": started, "ended_at": started + timedelta(milliseconds=latency),
                    "latency_ms": latency, "status": "ok" if outcome != "failed" else "error",
                    "outcome": outcome, "reason": "" if outcome == "resolved" else "other",
                    "input_tokens": 800, "output_tokens": 200, "cost_usd": Decimal("0.004"),
                    "tool_calls": 2, "tools_used": "[]", "policy_blocks": 1 if outcome == "blocked" else 0,
                    "human_minutes": Decimal("4") if outcome == "escalated" else Decimal("0"),
                    "trace_id": "", "metadata": "{}", "received_at": started,
                }
                row = []
                for f in fields:
                    if f.attname in values:
                        row.append(values[f.attname])
                    else:
                        d = f.get_default()
                        row.append(json.dumps(d) if isinstance(d, (dict, list)) else d)
                copy.write_row(row)
    connection.commit() if not connection.get_autocommit() else None

def rollup():
    t = time.perf_counter()
    services.rollup_rebuild(start=start - timedelta(days=1), end=now + timedelta(hours=1))
    took = time.perf_counter() - t
    # What autovacuum does minutes after a backfill (this server may run with it off): the
    # rebuild rewrote every rollup row, and index-only scans need the visibility map.
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE reports_dailyrollup, reports_hourlyrollup")
    return took

client = Client(HTTP_HOST="127.0.0.1")
client.force_login(exec_user)
pages = {"portfolio": "/reports/", "agent ROI": f"/reports/agents/{agents[0].slug}/"}

def measure():
    out = {}
    for name, url in pages.items():
        for _ in range(cfg["warmup"]):
            assert client.get(url).status_code == 200
        times = []
        for _ in range(cfg["requests"]):
            t = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.status_code
        times.sort()
        out[name] = {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))]}
    return out

res = {}
t = time.perf_counter(); copy_runs(cfg["small"]); load_small = time.perf_counter() - t
roll_small = rollup()
res["small"] = measure()
t = time.perf_counter(); copy_runs(cfg["large"] - cfg["small"]); load_large = time.perf_counter() - t
with connection.cursor() as cur:
    cur.execute("ANALYZE")
roll_large = rollup()
res["large"] = measure()
res["runs"] = Run.objects.count()
res["timings"] = {"copy_small_s": load_small, "rollup_small_s": roll_small, "copy_large_s": load_large,
                  "rollup_large_s": roll_large}
print("RESULT " + json.dumps(res))
"""


def main(args: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench reports")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--db", default="quorum_bench_reports")
    parser.add_argument("--timeout", type=int, default=1200)
    opts, _ = parser.parse_known_args(args)
    pg = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    db_url = f"{pg}/{opts.db}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": db_url,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        "CELERY_BROKER_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789",
        "DEBUG": "0",
        "QUORUM_HTTPS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "WHITENOISE_USE_FINDERS": "1",
        "QUORUM_MANIFEST_STATIC": "0",
        "LOG_LEVEL": "WARNING",
    }
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{opts.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{opts.db}"')
    t0 = time.perf_counter()
    subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    import json

    cfg = {k: getattr(opts, k) for k in ("small", "large", "agents", "requests", "warmup")}
    proc = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [PYTHON, "-c", WORKER, json.dumps(cfg)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=opts.timeout,
    )
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:])
        raise SystemExit("bench reports: worker failed")
    res = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    t = res["timings"]
    print(f"runs: {opts.small:,} then {res['runs']:,}; {opts.agents} agents; {opts.requests} requests per page")
    print(
        f"load: COPY {t['copy_small_s']:.1f}s + {t['copy_large_s']:.1f}s; "
        f"rollup rebuild {t['rollup_small_s']:.1f}s (10k) and {t['rollup_large_s']:.1f}s (1M)"
    )
    ok = True
    for page in ("portfolio", "agent ROI"):
        small, large = res["small"][page], res["large"][page]
        ratio = large["p50"] / small["p50"]
        print(
            f"{page:>10}: 10k p50 {small['p50']:.1f} ms p95 {small['p95']:.1f} ms | "
            f"1M p50 {large['p50']:.1f} ms p95 {large['p95']:.1f} ms | ratio (p50) {ratio:.2f}"
        )
        ok &= ratio <= 1.5 and large["p95"] < 150
    print(f"target (ratio ≤ 1.5, 1M p95 < 150 ms): {'met' if ok else 'NOT met'}; total {time.perf_counter() - t0:.0f}s")
