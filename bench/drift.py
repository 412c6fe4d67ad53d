"""Drift at fleet scale (``make bench`` or ``python -m bench drift``), on ``bench.harness``.

On its own fresh database: ``--agents`` production agents (1,000), each with ``--runs`` runs
(600) over the last 24 hours plus the recent 30 minutes, every 50th agent drifting (its
containment drops 20 points in the last 30 minutes), loaded by ``COPY``; one rollup pass (as
beat would have run it). Then a real Celery worker (``--celery`` processes, 1) runs the drift
cycle as beat dispatches it — ``evals.tasks.drift_check_fleet`` over chunks of
``DRIFT_FLEET_CHUNK`` agents — and the time from dispatch to the last result is measured
``--rounds`` times (5), with the spread and an A/A control (round against round). Goal ≤ 10 s for
1,000 agents (≤ 60 s for 10,000: ``--agents 10000``). The first round opens the drifting
agents' alerts, incidents and actions; later rounds add occurrences (checked: one incident per
drifting agent, no alert on a healthy one)."""

from __future__ import annotations

import time

from bench import harness

SEED = r"""
import json, random, sys, time
from datetime import timedelta
from decimal import Decimal
import django
django.setup()
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from evals.models import DriftPolicy
from registry.models import Agent, AgentVersion, Team
from telemetry import services as telemetry_services
from telemetry.models import Run

n_agents, per_agent = int(sys.argv[1]), int(sys.argv[2])
now = timezone.now().replace(microsecond=0)
owner = get_user_model().objects.create(username="bench-owner")
team = Team.objects.create(slug="bench", name="Bench")
agents = Agent.objects.bulk_create([
    Agent(slug=f"drift-{i:05d}", name=f"Drift agent {i:05d}", purpose="bench", unit_of_work="task",
          kpi_name="tasks", owner_team=team, owner=owner, status="production", risk_tier=1 + i % 3,
          success_threshold_pct=Decimal("60"), monthly_budget_usd=Decimal(500))
    for i in range(n_agents)
])
versions = AgentVersion.objects.bulk_create([
    AgentVersion(agent=a, label="1.0", model_provider="openai", model_name="gpt-4o", prompt_ref="0" * 64,
                 state="deployed", bundle_digest="0" * 64) for a in agents
])
DriftPolicy.objects.bulk_create([DriftPolicy(agent=a) for a in agents])
fields = [f for f in Run._meta.concrete_fields if f.column != "id"]
defaults = {}
for f in fields:
    d = f.get_default()
    defaults[f.attname] = json.dumps(d) if isinstance(d, (dict, list)) else d
HEALTHY = ["resolved"] * 85 + ["escalated"] * 10 + ["failed"] * 2 + ["blocked", "abandoned", "abandoned"]
DRIFTING = ["resolved"] * 65 + ["escalated"] * 30 + ["failed"] * 2 + ["blocked", "abandoned", "abandoned"]
rng = random.Random(11)
day, recent = 24 * 3600, 30 * 60


def copy_runs(start, seconds, per_agent, tag, outcomes_of):
    with connection.cursor() as cur:
        with cur.connection.cursor().copy(
            "COPY telemetry_run (" + ", ".join(f.column for f in fields) + ") FROM STDIN"
        ) as copy:
            for i, agent in enumerate(agents):
                outcomes = outcomes_of(i)
                for n in range(per_agent):  # evenly spread with jitter
                    started = start + timedelta(seconds=min((n + rng.random()) * seconds / per_agent, seconds - 1))
                    latency = int(rng.lognormvariate(7.2, 0.4))
                    outcome = rng.choice(outcomes)
                    values = {**defaults,
                        "agent_id": agent.pk, "version_id": versions[i].pk, "run_id": f"{tag}{n}",
                        "version_label": "1.0", "bundle_digest": "", "model": "gpt-4o", "channel": "chat",
                        "started_at": started, "ended_at": started + timedelta(milliseconds=latency),
                        "latency_ms": latency, "status": "error" if rng.random() < 0.01 else "ok",
                        "outcome": outcome, "reason": "" if outcome == "resolved" else "other",
                        "input_tokens": 800, "output_tokens": 200,
                        "cost_usd": Decimal(str(round(max(rng.gauss(0.02, 0.005), 0.001), 6))),
                        "tool_calls": 2, "tools_used": "[]", "policy_blocks": 1 if outcome == "blocked" else 0,
                        "human_minutes": Decimal("4") if outcome == "escalated" else Decimal("0"),
                        "trace_id": "", "metadata": "{}", "received_at": started + timedelta(seconds=1),
                    }
                    copy.write_row([values[f.attname] for f in fields])


t = time.perf_counter()
# The baseline day, healthy for everyone, then the rollup pass (as beat ran it).
copy_runs(now - timedelta(seconds=day + recent), day, per_agent, "d", lambda i: HEALTHY)
copy_s = time.perf_counter() - t
with connection.cursor() as cur:
    cur.execute("ANALYZE")
t = time.perf_counter()
telemetry_services.rollup_refresh(now=now - timedelta(seconds=recent) + timedelta(minutes=1))
rollup_s = time.perf_counter() - t
with connection.cursor() as cur:
    cur.execute("VACUUM ANALYZE telemetry_fiveminuterollup")
# The last 30 minutes before the cycles (seeding a day takes minutes on a busy box, so these are
# placed after it): 120 runs per agent (enough for min_samples), every 50th agent drifting. They
# arrived after the pass's watermark, as runs between two beat passes do.
now = timezone.now().replace(microsecond=0)
copy_runs(now - timedelta(seconds=recent), recent, 120, "r", lambda i: DRIFTING if i % 50 == 0 else HEALTHY)
print("RESULT", Run.objects.count(), round(copy_s, 1), round(rollup_s, 1))
"""

CYCLE = r"""
import time
import django
django.setup()
from celery import group
from evals import services
from evals.tasks import DRIFT_FLEET_CHUNK, drift_check_fleet

ids = sorted(services.production_agent_ids())
t = time.perf_counter()
result = group(
    drift_check_fleet.s(agent_ids=ids[i : i + DRIFT_FLEET_CHUNK]) for i in range(0, len(ids), DRIFT_FLEET_CHUNK)
).apply_async()
alerts = sum(result.get(timeout=600))
print("RESULT", time.perf_counter() - t, alerts)
"""

CHECK = r"""
import django
django.setup()
from evals.models import DriftAlert
from incidents.models import Incident
drifting = set(DriftAlert.objects.values_list("agent__slug", flat=True))
incidents = Incident.objects.filter(detection_source="drift_check").count()
expected = all(int(slug.split("-")[1]) % 50 == 0 for slug in drifting)
print("RESULT", len(drifting), incidents, expected)
"""


def main(args: list[str] | None = None) -> dict:
    opts = harness.options("drift", args, agents=1000, runs=600, celery=1, rounds=5)
    redis = harness.os.environ.get("BENCH_REDIS_URL") or harness.os.environ.get("REDIS_URL") or harness.DEFAULT_REDIS
    with harness.Stack("drift", serve=False, env={"CELERY_RESULT_BACKEND": redis}) as stack:
        runs, copy_s, rollup_s = stack.python(SEED, str(opts.agents), str(opts.runs), timeout=3600)
        print(f"seeded {int(runs):,} runs for {opts.agents:,} agents: COPY {copy_s}s, rollup pass {rollup_s}s")
        for _ in range(opts.celery):
            stack.start_celery()
        stack.python(CYCLE)  # warm-up: the worker's imports and connections (also opens the alerts)
        alerts, incidents, only_drifting = stack.python(CHECK)
        print(
            f"after the first cycle: {alerts} agents with alerts, {incidents} incidents, only drifting: {only_drifting}"
        )
        row = harness.measure(
            f"drift: cycle via Celery ({opts.celery} worker), {opts.agents:,} agents",
            lambda: float(stack.python(CYCLE)[0]),
            unit="s",
            rounds=opts.rounds,
            goal=("<=", 10.0 if opts.agents <= 1000 else 60.0 * opts.agents / 10_000),
        )
        _, incidents_after, _ = stack.python(CHECK)
        if (
            incidents_after != incidents
            or only_drifting != "True"
            or int(alerts) != opts.agents // 50 + (opts.agents % 50 > 0)
        ):
            raise RuntimeError(
                f"drift cycle acted wrongly: {alerts} agents alerted, incidents {incidents}→{incidents_after}"
            )
    return {"cycle_s": row.figure(), "row": row.as_dict(), "started": time.time()}
