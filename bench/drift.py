"""Drift-check benchmark, P5 (``make bench`` or ``python -m bench drift``).

In one run, on its own freshly migrated database (``quorum_bench_drift`` by default):
1,000 production agents, each with ``--runs`` runs (1,000) spread evenly over the last
24 hours 40 minutes (the default 24-hour baseline, the 30-minute window and some slack),
loaded by ``COPY``. The rollup pass then runs once, as the beat task would have (its time is
printed: it is where the work moved). Then one drift-check cycle, every production agent once,
is timed both ways on the same data and the same ``now``:

* **raw scan** — the check as it was before the rollups owned its windows (kept here only, as
  the baseline): ``drift_check_agent`` end to end with its windows read by four aggregate
  queries over the agent's raw runs (baseline, recent, both error windows) plus an exact p95;
* **check** — ``evals.services.drift_check_agent`` as shipped, end to end (windows from the
  five-minute rollups, the decision, the locked alert bookkeeping).

The two sides run agent by agent, taking turns at going first (so neither profits from the
other's warm caches). Printed: time of each side, ms and SQL queries per agent, and the ratio;
then five more minutes of runs arrive and the next rollup pass (the steady state of the beat
task) is timed. The runs are stable (no drift), so both sides decide the same thing.
Options: ``--agents N`` (1000), ``--runs N`` per agent (1000), ``--db NAME``. PostgreSQL comes
from ``BENCH_PG`` (default ``postgres://postgres@127.0.0.1:5432``). Bounded: the worker is
killed after ``--timeout`` seconds (default 900)."""

from __future__ import annotations

import json
import time

from bench import harness

WORKER = r"""
import json, random, sys, time
from datetime import timedelta
from decimal import Decimal
import django
django.setup()
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from evals import services as evals_services
from evals.models import DriftAlert, DriftPolicy
from evals.services import drift as drift_module
from evals.selectors import telemetry_window
from registry.models import Agent, AgentVersion, Team
from telemetry.models import Run
from telemetry import services as telemetry_services

cfg = json.loads(sys.argv[1])
now = timezone.now().replace(microsecond=0)
span = timedelta(hours=24, minutes=40)
start = now - span
owner = get_user_model().objects.create(username="bench-owner")
team = Team.objects.create(slug="bench", name="Bench")
agents = Agent.objects.bulk_create([
    Agent(slug=f"drift-{i:04d}", name=f"Drift agent {i:04d}", purpose="bench", unit_of_work="task",
          kpi_name="tasks", owner_team=team, owner=owner, status="production", risk_tier=1 + i % 3,
          success_threshold_pct=Decimal("80"), monthly_budget_usd=Decimal(500))
    for i in range(cfg["agents"])
])
versions = AgentVersion.objects.bulk_create([
    AgentVersion(agent=a, label="1.0", model_provider="openai", model_name="gpt-4o", prompt_ref="0" * 64,
                 state="deployed", bundle_digest="0" * 64) for a in agents
])
DriftPolicy.objects.bulk_create([DriftPolicy(agent=a) for a in agents])

fields = [f for f in Run._meta.concrete_fields if f.column != "id"]
OUTCOMES = ["resolved"] * 88 + ["escalated"] * 7 + ["failed"] * 2 + ["blocked", "abandoned", "abandoned"]
rng = random.Random(11)

def copy_runs(first, length, per_agent, tag):
    seconds = int(length.total_seconds()) - 1
    with connection.cursor() as cur:
        with cur.connection.cursor().copy(
            "COPY telemetry_run (" + ", ".join(f.column for f in fields) + ") FROM STDIN"
        ) as copy:
            for i, agent in enumerate(agents):
                for n in range(per_agent):
                    # Evenly spread with jitter: every window holds its share of runs.
                    offset = min(seconds, int((n + rng.random()) * seconds / per_agent))
                    started = first + timedelta(seconds=offset)
                    latency = int(rng.lognormvariate(7.2, 0.4))
                    outcome = rng.choice(OUTCOMES)
                    values = {
                        "agent_id": agent.pk, "version_id": versions[i].pk, "run_id": f"{tag}{n}",
                        "version_label": "1.0", "bundle_digest": "", "model": "gpt-4o", "channel": "chat",
                        "started_at": started, "ended_at": started + timedelta(milliseconds=latency),
                        "latency_ms": latency, "status": "error" if rng.random() < 0.01 else "ok",
                        "outcome": outcome, "reason": "" if outcome == "resolved" else "other",
                        "input_tokens": 800, "output_tokens": 200,
                        "cost_usd": Decimal(str(round(max(rng.gauss(0.02, 0.005), 0.001), 6))),
                        "tool_calls": 2, "tools_used": "[]", "policy_blocks": 1 if outcome == "blocked" else 0,
                        "human_minutes": Decimal("4") if outcome == "escalated" else Decimal("0"),
                        "trace_id": "", "metadata": "{}",
                        # Received a second after it started: the last minutes are still after the
                        # rollup pass's settle delay, as they are between two beat passes.
                        "received_at": started + timedelta(seconds=1),
                    }
                    row = []
                    for f in fields:
                        if f.attname in values:
                            row.append(values[f.attname])
                        else:
                            d = f.get_default()
                            row.append(json.dumps(d) if isinstance(d, (dict, list)) else d)
                    copy.write_row(row)

def raw_windows(*, agent, policy, now):
    # The drift check's reads before rollups owned them, verbatim: four aggregate scans of the
    # agent's raw runs (plus an exact p95 in the database).
    recent_start = now - timedelta(minutes=policy.containment_window_minutes)
    error_start = now - timedelta(minutes=policy.error_window_minutes)
    baseline_span = timedelta(hours=policy.baseline_hours)
    return {
        "baseline": telemetry_window(agent_id=agent.pk, start=recent_start - baseline_span, end=recent_start),
        "recent": telemetry_window(agent_id=agent.pk, start=recent_start, end=now),
        "error_baseline": telemetry_window(
            agent_id=agent.pk, start=error_start - baseline_span, end=error_start, with_latency=False
        ),
        "error_recent": telemetry_window(agent_id=agent.pk, start=error_start, end=now, with_latency=False),
    }

def cycles():
    # Both sides agent by agent, taking turns at going first, so neither gets the other's warm
    # caches for free (run as two whole cycles, the second was ~30 % faster on identical code).
    sides = {"raw": raw_windows, "check": drift_module.drift_windows}
    out = {name: {"s": 0.0, "agents": 0, "queries": 0, "breaches": 0} for name in sides}
    current = [None]

    def count(execute, sql, params, many, context):
        out[current[0]]["queries"] += 1
        return execute(sql, params, many, context)

    ids = evals_services.production_agent_ids()
    with connection.execute_wrapper(count):
        for n, agent_id in enumerate(ids):
            for name in (("raw", "check") if n % 2 == 0 else ("check", "raw")):
                current[0] = name
                drift_module.drift_windows = sides[name]
                t = time.perf_counter()
                out[name]["breaches"] += len(evals_services.drift_check_agent(agent_id=agent_id, now=now))
                out[name]["s"] += time.perf_counter() - t
                out[name]["agents"] += 1
    drift_module.drift_windows = sides["check"]
    return out

res = {}
t = time.perf_counter(); copy_runs(start, span, cfg["runs"], "d"); res["copy_s"] = time.perf_counter() - t
with connection.cursor() as cur:
    cur.execute("ANALYZE")
t = time.perf_counter(); res["rollup_buckets"] = telemetry_services.rollup_refresh(now=now)
res["rollup_s"] = time.perf_counter() - t
with connection.cursor() as cur:
    cur.execute("ANALYZE")
res["runs"] = Run.objects.count()
res.update(cycles())
res["alerts"] = DriftAlert.objects.count()
# The steady state: five more minutes of runs arrive and the next beat pass rolls them up.
copy_runs(now, timedelta(minutes=5), max(1, round(cfg["runs"] * 5 / (span.total_seconds() / 60))), "n")
t = time.perf_counter()
res["pass_buckets"] = telemetry_services.rollup_refresh(now=now + timedelta(minutes=7))
res["pass_s"] = time.perf_counter() - t
print("RESULT " + json.dumps(res, separators=(",", ":")))
"""


def main(args: list[str] | None = None) -> dict:
    opts = harness.options("drift", args, agents=1000, runs=1000, timeout=900)
    t0 = time.perf_counter()
    with harness.Stack("drift", serve=False) as stack:
        cfg = {"agents": opts.agents, "runs": opts.runs}
        words = stack.python(WORKER, json.dumps(cfg), timeout=opts.timeout)
    res = json.loads(" ".join(words))
    print(f"runs: {res['runs']:,} ({opts.runs:,} per agent over 24 h 40 min); {opts.agents:,} production agents")
    print(f"load: COPY {res['copy_s']:.1f}s; rollup pass {res['rollup_s']:.1f}s ({res['rollup_buckets']:,} hours)")
    for name, label in (("raw", "raw scan (before)"), ("check", "drift check (now)")):
        side = res[name]
        n = max(side["agents"], 1)
        print(
            f"{label:>18}: {side['s']:.2f}s for {side['agents']:,} agents, {1000 * side['s'] / n:.2f} ms "
            f"and {side['queries'] / n:.1f} queries per agent, {side['breaches']} new alerts"
        )
    harness.record(harness.Row(f"drift: cycle, {opts.agents:,} agents, per agent", "s", [res["check"]["s"]]))
    ratio = res["raw"]["s"] / res["check"]["s"] if res["check"]["s"] else float("inf")
    print(f"ratio raw scan / check: {ratio:.2f}; alerts {res['alerts']}")
    print(
        f"next beat pass (5 more minutes of runs): {res['pass_s']:.1f}s ({res['pass_buckets']:,} hours); "
        f"total {time.perf_counter() - t0:.0f}s"
    )
    return res
