"""SLO and monitor evaluation at fleet scale (``make bench`` or ``python -m bench monitors``).

On its own fresh database: ``--agents`` production agents (300), each with an SLO, an agent
monitor with two AND conditions (error rate, p95 latency) and three days of five-minute rollup rows
(864 per agent, loaded by ``COPY``; every 25th agent burning its error budget for the last hour),
plus three portfolio monitors (error rate, provider 429s, failing scheduled eval). Then the beat's
pass, ``monitors.services.evaluate_all``, is timed ``--rounds`` times (3) in a fresh interpreter,
with the spread and an A/A control (round against round). Goal: the pass fits well inside the
one-minute beat interval, ≤ 30 s for 300 agents. The first round opens the burning agents' alerts
(checked: exactly those), later rounds send nothing new (de-duplication)."""

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
from monitors.models import SLO, Monitor, MonitorCondition
from registry.models import Agent, Team
from telemetry.latency import bucket_index, empty_histogram
from telemetry.models import FiveMinuteRollup

n_agents = int(sys.argv[1])
now = timezone.now()
end = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
owner = get_user_model().objects.create(username="bench-owner", email="owner@bench.example")
team = Team.objects.create(slug="bench", name="Bench")
agents = Agent.objects.bulk_create([
    Agent(slug=f"mon-{i:05d}", name=f"Monitored {i:05d}", purpose="bench", unit_of_work="task", kpi_name="tasks",
          owner_team=team, owner=owner, status="production", risk_tier=1 + i % 3) for i in range(n_agents)
])
SLO.objects.bulk_create([SLO(agent=a) for a in agents])
monitors = Monitor.objects.bulk_create([Monitor(name=f"m{a.pk}", scope="agent", agent=a) for a in agents])
conditions = []
for m in monitors:
    for metric, threshold in (("error_rate", 5), ("p95_latency_ms", 8000)):
        conditions.append(MonitorCondition(monitor=m, metric=metric, window_minutes=10, alert_threshold=threshold))
for metric, threshold in (("error_rate", 5), ("provider_429_rate", 5), ("eval_failing", 0)):
    p = Monitor.objects.create(name=f"portfolio {metric}", scope="portfolio")
    conditions.append(MonitorCondition(monitor=p, metric=metric, window_minutes=5, alert_threshold=Decimal(threshold)))
MonitorCondition.objects.bulk_create(conditions)
fields = [f for f in FiveMinuteRollup._meta.concrete_fields if not f.primary_key]
rng = random.Random(7)
t = time.perf_counter()
with connection.cursor() as cur:
    with cur.connection.cursor().copy(
        "COPY telemetry_fiveminuterollup (" + ", ".join(f.column for f in fields) + ") FROM STDIN"
    ) as copy:
        for i, agent in enumerate(agents):
            for k in range(3 * 288):
                start = end - timedelta(minutes=5 * (k + 1))
                burning = i % 25 == 0 and k < 12
                runs = 40
                bad = 6 if burning else (1 if rng.random() < 0.1 else 0)
                hist = empty_histogram()
                hist[bucket_index(1500)] += runs - 1
                hist[bucket_index(9000)] += 1
                row = {f.attname: f.get_default() for f in fields}
                row.update(agent_id=agent.pk, version_id=None, bucket_start=start, runs=runs, successes=runs - bad,
                           errored_or_failed=bad, failures=bad, latency_hist=json.dumps(hist),
                           latency_sum_ms=runs * 1500, computed_at=now, cost_usd=Decimal("0.5"))
                copy.write_row([row[f.attname] for f in fields])
with connection.cursor() as cur:
    cur.execute("ANALYZE")
print("RESULT", FiveMinuteRollup.objects.count(), round(time.perf_counter() - t, 1), end.isoformat())
"""

PASS = r"""
import sys, time
from datetime import datetime
import django
django.setup()
from monitors.services import evaluate_all
now = datetime.fromisoformat(sys.argv[1])  # the seed's clock: every pass sees the same windows
t = time.perf_counter()
counts = evaluate_all(now=now)
print("RESULT", time.perf_counter() - t, counts["slos"], counts["monitors"])
"""

CHECK = r"""
import django
django.setup()
from registry.channel_models import AlertRecord, Notification
keys = set(AlertRecord.objects.filter(resolved_at__isnull=True).values_list("dedup_key", flat=True))
print("RESULT", len(keys), Notification.objects.count())
"""


def main(args: list[str] | None = None) -> dict:
    opts = harness.options("monitors", args, agents=300, rounds=3)
    with harness.Stack("monitors", serve=False) as stack:
        rows, copy_s, now = stack.python(SEED, str(opts.agents), timeout=3600)
        print(f"seeded {int(rows):,} five-minute rows for {opts.agents:,} agents: COPY {copy_s}s")
        _, slos, monitors = stack.python(PASS, now)  # the first pass opens the burning agents' alerts
        open_alerts, sent = stack.python(CHECK)
        burning = len(range(0, opts.agents, 25))
        print(
            f"first pass: {slos} SLOs and {monitors} monitors firing, {open_alerts} open alerts, {sent} notifications"
        )
        row = harness.measure(
            f"monitors: evaluate_all, {opts.agents:,} agents (SLO + monitor each, 3 portfolio monitors)",
            lambda: float(stack.python(PASS, now)[0]),
            unit="s",
            rounds=opts.rounds,
            goal=("<=", 30.0 * opts.agents / 300),
        )
        open_after, sent_after = stack.python(CHECK)
        if int(slos) != burning or sent_after != sent or open_after != open_alerts:
            raise RuntimeError(
                f"evaluation acted wrongly: {slos} SLOs firing (expected {burning}), {sent}→{sent_after}"
            )
    return {"pass_s": row.figure(), "row": row.as_dict(), "started": time.time()}
