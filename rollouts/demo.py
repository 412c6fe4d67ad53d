"""Demo rollout for ``manage.py seed_demo``: ``contract-clauses`` ran version 1.2 in shadow for
five days, then a gradual plan started; stage 1 (1 %) passed its gates and the plan is now at
5 %, waiting out the stage's 72 hours. Idempotent: nothing is done if the agent has a plan.

The version is approved directly, as the registry's demo seeds its versions (demo data, not a
decision); the canary and every step go through the real services (audited, announced)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from registry import services as registry_services
from registry.demo import demo_version_after
from registry.models import Agent, AgentVersion
from telemetry.services import runs_ingest

from .models import RolloutPlan
from .services import plan_tick

DEMO_AGENT = "contract-clauses"
LABEL = "1.2"
STAGES = [
    {"share_pct": "1", "min_hours": 72},
    {"share_pct": "5", "min_hours": 72},
    {"share_pct": "20", "min_hours": 72},
]


def _runs(version: AgentVersion, *, start: datetime, end: datetime, count: int, shadow: bool, seed: str) -> list:
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    span = (end - start).total_seconds()
    items = []
    for n in range(count):
        started = start + timedelta(seconds=span * (n + rng.random()) / count)
        resolved = rng.random() < 0.95
        items.append(
            {
                "run_id": f"rollout-{seed}-{n:04d}",
                "version_label": version.label,
                "model": version.model_name,
                "started_at": started.isoformat(),
                "ended_at": (started + timedelta(milliseconds=int(rng.lognormvariate(9.5, 0.4)))).isoformat(),
                "outcome": "resolved" if resolved else "escalated",
                "reason": None if resolved else "ambiguity",
                "cost_usd": str(Decimal(str(round(rng.uniform(0.012, 0.022), 6)))),
                "shadow": shadow,
            }
        )
    return items


def _candidate(agent: Agent, stable: AgentVersion) -> AgentVersion:
    version = demo_version_after(
        stable, label=LABEL, changelog="Clause taxonomy v3; shorter answers.", created_by=agent.owner
    )
    return registry_services.version_approve(version_id=version.pk, bundle_digest=version.bundle_digest)


def seed_rollouts(stdout=None, now: datetime | None = None) -> None:
    now = now or timezone.now()
    agent = Agent.objects.filter(slug=DEMO_AGENT).first()
    stable = agent.deployed_version if agent else None
    if agent is None or stable is None or agent.rollout_plans.exists() or agent.versions.filter(label=LABEL).exists():
        return
    version = _candidate(agent, stable)
    started = now - timedelta(days=4)
    advanced = started + timedelta(hours=73)  # stage 1 lasted its 72 hours
    # Five days of shadow runs before the plan, then the canary's own runs in each stage.
    runs_ingest(agent=agent, items=_runs(version, start=started - timedelta(days=5), end=started, count=100,
                                         shadow=True, seed="shadow"))  # fmt: skip
    runs_ingest(agent=agent, items=_runs(version, start=started, end=advanced, count=40,
                                         shadow=False, seed="stage1"))  # fmt: skip
    runs_ingest(agent=agent, items=_runs(version, start=advanced, end=now, count=25,
                                         shadow=False, seed="stage2"))  # fmt: skip
    registry_services.canary_set(
        agent_id=agent.pk, version_id=version.pk, bundle_digest=version.bundle_digest, share_pct=Decimal("1")
    )
    plan = RolloutPlan.objects.create(
        agent=agent,
        version=version,
        baseline_version=stable,
        bundle_digest=version.bundle_digest,
        stages=STAGES,
        stage_started_at=started,
        p95_slo_ms=60_000,  # long contracts: a minute at p95
        min_sample=20,
    )
    plan_tick(plan_id=plan.pk, now=advanced)  # stage 1's gates pass: on to 5 %
    plan_tick(plan_id=plan.pk, now=now)  # stage 2: gates pass, its 72 hours are not over
    if stdout is not None:
        plan.refresh_from_db()
        stdout.write(f"Rollouts demo: {agent.slug} {LABEL} at {plan.current_share} % ({plan.get_status_display()}).")
