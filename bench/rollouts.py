"""Rollout gates and comparisons at volume (``make bench`` or ``python -m bench rollouts``).

On its own fresh database: one production agent with its deployed version 1.0 and an approved
1.1 in a rollout plan at 5 %, ``--runs`` production runs (200,000) in the plan's current stage
(two days; 95 % of them stable, 5 % canary), plus ``--shadow`` shadow runs of 1.1 (20,000) over
the 14 days before, loaded by ``COPY``. Measured ``--rounds`` times (5), each in a fresh
interpreter, timing only the call:

* one ``plan_tick`` of the plan (gates over the stage's runs: two aggregates with p95, the
  violation count, the gate-check upsert) — the stage is not over, so every round evaluates and
  waits, as the beat task does every 5 minutes; goal ≤ 2 s;
* the A/B lift of 1.1 over 1.0 across 30 days (the lift page's query); goal ≤ 2 s;
* shadow against production per day over 14 days (the rollouts page's query); goal ≤ 2 s."""

from __future__ import annotations

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
from registry.models import Agent, AgentVersion, Team
from rollouts.models import RolloutPlan
from telemetry.models import Run

n_runs, n_shadow = int(sys.argv[1]), int(sys.argv[2])
now = timezone.now().replace(microsecond=0)
owner = get_user_model().objects.create(username="bench-owner")
team = Team.objects.create(slug="bench", name="Bench")
agent = Agent.objects.create(slug="rollout-bench", name="Rollout bench", purpose="bench", unit_of_work="task",
    kpi_name="tasks", owner_team=team, owner=owner, status="production", risk_tier=2,
    monthly_budget_usd=Decimal(500))
stable = AgentVersion.objects.create(agent=agent, label="1.0", model_provider="openai", model_name="gpt-4o",
    prompt_ref="0" * 64, state="deployed", bundle_digest="0" * 64, deployed_at=now - timedelta(days=60))
canary = AgentVersion.objects.create(agent=agent, label="1.1", model_provider="openai", model_name="gpt-4o",
    prompt_ref="1" * 64, state="approved", bundle_digest="1" * 64)
Agent.objects.filter(pk=agent.pk).update(canary_version=canary, canary_share_pct=Decimal("5"))
stage_start = now - timedelta(days=2)
plan = RolloutPlan.objects.create(agent=agent, version=canary, baseline_version=stable, bundle_digest="1" * 64,
    stages=[{"share_pct": "1", "min_hours": 72}, {"share_pct": "5", "min_hours": 720}], stage_index=1,
    stage_started_at=stage_start)
fields = [f for f in Run._meta.concrete_fields if f.column != "id"]
defaults = {}
for f in fields:
    d = f.get_default()
    defaults[f.attname] = json.dumps(d) if isinstance(d, (dict, list)) else d
rng = random.Random(19)
OUTCOMES = ["resolved"] * 90 + ["escalated"] * 7 + ["failed"] * 3


def copy_runs(start, seconds, count, tag, version_of, shadow):
    with connection.cursor() as cur:
        with cur.connection.cursor().copy(
            "COPY telemetry_run (" + ", ".join(f.column for f in fields) + ") FROM STDIN"
        ) as copy:
            for n in range(count):
                started = start + timedelta(seconds=min((n + rng.random()) * seconds / count, seconds - 1))
                latency = int(rng.lognormvariate(7.6, 0.5))
                outcome = rng.choice(OUTCOMES)
                version = version_of(n)
                values = {**defaults,
                    "agent_id": agent.pk, "version_id": version.pk, "run_id": f"{tag}{n}",
                    "version_label": version.label, "model": "gpt-4o", "channel": "chat",
                    "started_at": started, "ended_at": started + timedelta(milliseconds=latency),
                    "latency_ms": latency, "status": "ok", "outcome": outcome,
                    "reason": "" if outcome == "resolved" else "other",
                    "cost_usd": Decimal(str(round(max(rng.gauss(0.02, 0.005), 0.001), 6))),
                    "tools_used": "[]", "trace_id": "", "metadata": "{}", "shadow": shadow,
                    "received_at": started + timedelta(seconds=1),
                }
                copy.write_row([values[f.attname] for f in fields])


t = time.perf_counter()
copy_runs(stage_start, 2 * 86400 - 60, n_runs, "p", lambda n: canary if n % 20 == 0 else stable, False)
copy_runs(stage_start - timedelta(days=14), 14 * 86400, n_shadow, "s", lambda n: canary, True)
with connection.cursor() as cur:
    cur.execute("ANALYZE telemetry_run")
print("RESULT", Run.objects.count(), round(time.perf_counter() - t, 1), plan.pk)
"""

TIMED = r"""
import sys, time
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from registry.models import Agent
from rollouts import selectors
from rollouts.models import RolloutPlan
from rollouts.services import plan_tick

what = sys.argv[1]
plan = RolloutPlan.objects.select_related("agent", "version", "baseline_version").get()
agent, now = plan.agent, timezone.now()
t = time.perf_counter()
if what == "tick":
    outcome = plan_tick(plan_id=plan.pk, now=now)
    assert outcome == "waiting for the minimum duration", outcome
elif what == "lift":
    lift = selectors.version_lift(agent=agent, a=plan.baseline_version, b=plan.version,
                                  start=now - timedelta(days=30), end=now)
    assert lift.a.n > 0 and lift.b.n > 0
else:
    days = selectors.shadow_vs_production(agent=agent, start=now - timedelta(days=17), end=now)
    assert len(days) >= 14
print("RESULT", time.perf_counter() - t)
"""


def main(args: list[str] | None = None) -> dict:
    opts = harness.options("rollouts", args, runs=200_000, shadow=20_000, rounds=5)
    rows = {}
    with harness.Stack("rollouts", serve=False) as stack:
        total, copy_s, _plan = stack.python(SEED, str(opts.runs), str(opts.shadow), timeout=3600)
        print(f"seeded {int(total):,} runs ({opts.runs:,} in the stage, {opts.shadow:,} shadow): COPY {copy_s}s")
        for what, label in (
            ("tick", f"rollouts: one plan tick, {opts.runs:,} runs in the stage"),
            ("lift", f"rollouts: A/B lift over 30 days, {opts.runs:,} runs"),
            ("shadow", f"rollouts: shadow vs production per day, {opts.shadow:,} shadow runs"),
        ):
            stack.python(TIMED, what)  # warm-up (plans, caches)
            rows[what] = harness.measure(
                label, lambda w=what: float(stack.python(TIMED, w)[0]), unit="s", rounds=opts.rounds, goal=("<=", 2.0)
            )
    return rows
