"""Demo telemetry: 90 days of runs for the demo agents, through the real ingest path.

Deterministic (a seeded RNG per agent and day) and idempotent: run ids are built from the
agent and the calendar day, so a second ``seed_demo`` the same day stores nothing new and a
run a day later adds only the missing hours. Shape of the data:

* daily rhythm (business hours peak, quiet nights) and weekly rhythm (weekends ~40 %);
* a few failures and escalations with reasons from the taxonomy;
* ``order-status`` has a visible quality dip 21 to 14 days ago (a carrier-API tool outage);
* a handful of governance breaches in the last days (an unregistered release candidate of
  ``sales-leads``, a tool ``support-triage`` was never granted) so violations show up."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from registry.choices import VersionState
from registry.models import Agent, AgentVersion

from .models import Run
from .services import runs_ingest

DAYS = 90
BATCH = 1000
# Hourly weights (UTC), a working-day curve.
HOURLY = [1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 11, 9, 7, 5, 4, 3, 2, 2, 1]
DAILY_VOLUME = {"production": 60, "pilot": 16, "paused": 30}
PRICES = {  # USD per million tokens (input, output)
    "gpt-4o-2024-08-06": (Decimal("2.50"), Decimal("10.00")),
    "claude-3-5-sonnet": (Decimal("3.00"), Decimal("15.00")),
}
DIP_AGENT = "order-status"


def seed_telemetry(stdout=None, now: datetime | None = None) -> int:
    """Seed runs for every demo agent with a version; returns how many runs were created."""
    now = now or timezone.now()
    created = 0
    agents = Agent.objects.filter(status__in=list(DAILY_VOLUME)).order_by("slug")
    for agent in agents:
        version = (
            AgentVersion.objects.filter(agent=agent, state=VersionState.DEPLOYED).first()
            or AgentVersion.objects.filter(agent=agent).order_by("-created_at").first()
        )
        if version is None:
            continue
        # Re-seeding skips what is stored already (the ingest would answer "duplicate" anyway;
        # this only saves re-validating tens of thousands of runs).
        stored = set(Run.objects.filter(agent=agent, run_id__startswith="demo-").values_list("run_id", flat=True))
        complete_days = {run_id[5:13] for run_id in stored}  # demo-YYYYMMDD-nnnn; today may be partial
        items = [item for item in _runs_for(agent, version, now, complete_days) if item["run_id"] not in stored]
        for start in range(0, len(items), BATCH):
            results = runs_ingest(agent=agent, items=items[start : start + BATCH])
            created += sum(1 for r in results if r.status == "created")
            invalid = [r for r in results if r.status == "invalid"]
            if invalid:  # the generator and the contract disagree: fail loudly, not silently
                raise ValueError(f"demo run {invalid[0].run_id} rejected: {invalid[0].errors}")
    if stdout is not None:
        stdout.write(f"Telemetry: {created} demo runs stored ({DAYS} days).")
    return created


def _runs_for(agent: Agent, version: AgentVersion, now: datetime, complete_days: frozenset | set = frozenset()):
    tools = list(version.grants.values_list("tool__name", flat=True))
    base = DAILY_VOLUME[agent.status]
    live_since = (agent.deployed_at or now - timedelta(days=DAYS)).date()
    paused_from = (now - timedelta(days=10)).date() if agent.status == "paused" else None
    today = now.date()
    for offset in range(DAYS, -1, -1):
        day = today - timedelta(days=offset)
        if day < live_since or (paused_from and day >= paused_from):
            continue
        if day < today and f"{day:%Y%m%d}" in complete_days:
            continue
        rng = random.Random(f"{agent.slug}:{day.isoformat()}")  # noqa: S311 - demo data, not security
        weekend = day.weekday() >= 5
        volume = int(base * (0.4 if weekend else 1.0) * rng.uniform(0.8, 1.2))
        hours = rng.choices(range(24), weights=HOURLY, k=volume)
        for n, hour in enumerate(sorted(hours)):
            started = datetime.combine(day, time(hour), tzinfo=UTC) + timedelta(seconds=rng.randrange(3600))
            if started > now - timedelta(minutes=2):
                continue
            yield _run(agent, version, tools, rng, day, n, started, now)


def _run(agent, version, tools, rng, day: date, n: int, started: datetime, now: datetime) -> dict:
    days_ago = (now.date() - day).days
    dip = agent.slug == DIP_AGENT and 14 <= days_ago <= 21
    # Healthy agents sit just above the 92 % default threshold, so the dipping one stands out.
    p_resolved = 0.70 if dip else 0.945
    roll = rng.random()
    if roll < p_resolved:
        outcome, reason, status = "resolved", None, "ok"
    elif roll < p_resolved + (0.20 if dip else 0.035):
        outcome = "escalated"
        reason = "tool_outage" if dip else rng.choice(["ambiguity", "ambiguity", "data_missing", "policy_blocked"])
        status = "ok"
    elif roll < 0.985:
        outcome, reason, status = "failed", rng.choice(["model_error", "tool_outage", "other"]), "error"
    else:
        outcome, reason, status = "blocked", "policy_blocked", "ok"
    duration = timedelta(milliseconds=int(rng.lognormvariate(9.6, 0.5)))  # median ≈ 15 s
    input_tokens = int(rng.lognormvariate(8.2, 0.4))
    output_tokens = int(input_tokens * rng.uniform(0.1, 0.3))
    price_in, price_out = PRICES.get(version.model_name, (Decimal("3"), Decimal("15")))
    cost = (price_in * input_tokens + price_out * output_tokens) / Decimal(1_000_000)
    used = rng.sample(tools, k=min(len(tools), rng.randint(1, 3))) if tools else []
    label, model = version.label, version.model_name
    # Governance breaches in the last three days, rare enough to read like real incidents.
    if days_ago <= 3 and agent.slug == "sales-leads" and n % 17 == 0:
        label = "1.2-rc1"
    if days_ago <= 3 and agent.slug == "support-triage" and n % 23 == 0:
        used = [*used, "email.draft"] if "email.draft" not in used else used
    human = Decimal("0")
    if outcome == "escalated":
        human = (agent.human_minutes_per_unit * Decimal(str(round(rng.uniform(0.4, 1.0), 2)))).quantize(Decimal("0.01"))
    return {
        "run_id": f"demo-{day:%Y%m%d}-{n:04d}",
        "version_label": label,
        "model": model,
        "channel": (agent.channels or ["internal"])[n % len(agent.channels or ["internal"])],
        "started_at": started.isoformat(),
        "ended_at": (started + duration).isoformat(),
        "status": status,
        "outcome": outcome,
        "reason": reason,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": str(cost.quantize(Decimal("0.000001"))),
        "tool_calls": len(used) + rng.randint(0, 2),
        "tools_used": used,
        "policy_blocks": 1 if outcome == "blocked" else 0,
        "human_minutes": str(human),
        "trace_id": f"{rng.getrandbits(128):032x}",
        "metadata": {"demo": True, "weekday": day.strftime("%a")},
    }
