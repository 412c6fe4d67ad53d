"""Reports benchmark (``make bench`` or ``python -m bench reports``), on ``bench.harness``.

Two fresh databases, each served by its own gunicorn on loopback (production-like settings):
100 production agents with ``--small`` runs (10,000) over 90 days in one, ``--large`` runs
(1,000,000) in the other, inserted server-side (``INSERT … SELECT`` over ``generate_series``) and
rolled up (then vacuumed and analysed, as autovacuum would: the steady state, not the seconds
after a backfill). Pages read rollups only, so the size of the run table should not show.

For the portfolio page and one agent's ROI page, over HTTP as a logged-in executive (session
cookie, the full middleware, view and template stack): A = the median latency of ``--requests``
sequential requests on the small database, B = the same on the large one, interleaved with an
A/A control (the small database again). Goals: large ÷ small ≤ 1.5, and the large database's
p95 under 150 ms. Options: ``--small N``, ``--large N``, ``--agents N`` (100), ``--requests N``
(30), ``--rounds R`` (6), ``--workers W`` (2 per server)."""

from __future__ import annotations

import http.client
import statistics
import time

from bench import harness

SEED = r"""
import json, sys
from datetime import timedelta
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

runs, n_agents = int(sys.argv[1]), int(sys.argv[2])
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
    for i in range(n_agents)
])
versions = AgentVersion.objects.bulk_create([
    AgentVersion(agent=a, label="1.0", model_provider="openai", model_name="gpt-4o", prompt_ref="0" * 64,
                 state="deployed", bundle_digest="0" * 64) for a in agents
])
exec_user = User.objects.create(username="bench-exec")
exec_user.groups.add(Group.objects.get(name="Executive"))

OUTCOMES = ["resolved"] * 88 + ["escalated"] * 7 + ["failed"] * 3 + ["blocked", "abandoned"]
given = {"agent_id", "version_id", "run_id", "version_label", "bundle_digest", "model", "channel", "started_at",
         "ended_at", "latency_ms", "status", "outcome", "reason", "input_tokens", "output_tokens", "cost_usd",
         "tool_calls", "tools_used", "policy_blocks", "human_minutes", "trace_id", "metadata", "received_at"}
rest = [f for f in Run._meta.concrete_fields if f.column != "id" and f.attname not in given]
params = {f"rest{k}": json.dumps(d) if isinstance(d := f.get_default(), (dict, list)) else d
          for k, f in enumerate(rest)}
# Server-side rows (INSERT … SELECT over generate_series; a Python loop feeding COPY took minutes
# of `make bench`'s 15 at 1M runs): a random agent, a uniform start over the 90 days, lognormal
# latency (Box–Muller), the outcome mix above; setseed makes the draws repeatable.
INSERT = f'''
INSERT INTO telemetry_run (agent_id, version_id, run_id, version_label, bundle_digest, model, channel,
    started_at, ended_at, latency_ms, status, outcome, reason, input_tokens, output_tokens, cost_usd,
    tool_calls, tools_used, policy_blocks, human_minutes, trace_id, metadata, received_at
    {"".join(", " + f.column for f in rest)})
SELECT (%(agents)s::bigint[])[i], (%(versions)s::bigint[])[i], 'b' || n, '1.0', '', 'gpt-4o', 'chat',
    started, started + latency * interval '1 millisecond', latency,
    CASE WHEN outcome = 'failed' THEN 'error' ELSE 'ok' END, outcome,
    CASE WHEN outcome = 'resolved' THEN '' ELSE 'other' END, 800, 200, 0.004, 2, '[]',
    (outcome = 'blocked')::int, CASE WHEN outcome = 'escalated' THEN 4 ELSE 0 END, '', '{{}}', started
    {"".join(f", %(rest{k})s" for k in range(len(rest)))}
FROM (
    SELECT g.n, 1 + floor(random() * %(n_agents)s)::int AS i,
        %(start)s + floor(random() * %(span)s) * interval '1 second' AS started,
        exp(7.5 + 0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::int AS latency,
        (%(outcomes)s::text[])[1 + floor(random() * %(n_outcomes)s)::int] AS outcome
    FROM generate_series(0, %(runs)s - 1) AS g(n)
) AS rows
'''
params.update(agents=[a.pk for a in agents], versions=[v.pk for v in versions], n_agents=len(agents),
              start=start, span=int((now - start).total_seconds()), outcomes=OUTCOMES,
              n_outcomes=len(OUTCOMES), runs=runs)
with connection.cursor() as cur:
    cur.execute("SELECT setseed(0.7)")
    cur.execute(INSERT, params)
with connection.cursor() as cur:
    cur.execute("ANALYZE")
services.rollup_rebuild(start=start - timedelta(days=1), end=now + timedelta(hours=1))
with connection.cursor() as cur:
    # What autovacuum does minutes after a backfill: index-only scans need the visibility map.
    cur.execute("VACUUM ANALYZE reports_dailyrollup, reports_hourlyrollup")
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(exec_user)
print("RESULT", client.cookies["sessionid"].value, agents[0].slug)
"""

PAGES = {"portfolio": "/reports/", "agent ROI": "/reports/agents/{slug}/"}


def page_latencies(url: str, path: str, session: str, requests: int) -> list[float]:
    """Latencies (ms) of ``requests`` sequential GETs on one keep-alive connection."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Cookie": f"sessionid={session}"}
    times = []
    try:
        for _ in range(requests):
            t = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            times.append((time.perf_counter() - t) * 1000)
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
    finally:
        conn.close()
    return sorted(times)


def main(args: list[str] | None = None) -> dict:
    opts = harness.options("reports", args, small=10_000, large=1_000_000, agents=100, requests=30)
    out = {}
    with (
        harness.Stack("reports_small", workers=opts.workers) as small,
        harness.Stack("reports_large", workers=opts.workers) as large,
    ):
        t = time.perf_counter()
        small_session, slug = small.python(SEED, str(opts.small), str(opts.agents))
        large_session, _ = large.python(SEED, str(opts.large), str(opts.agents), timeout=3600)
        print(f"seeded {opts.small:,} and {opts.large:,} runs, rolled up, in {time.perf_counter() - t:.0f}s")
        for page, template in PAGES.items():
            path = template.format(slug=slug)
            for stack, session in ((small, small_session), (large, large_session)):
                page_latencies(stack.url, path, session, 3)  # warm-up: connections, caches
            p95s: list[float] = []

            def on_small(path=path) -> float:
                return statistics.median(page_latencies(small.url, path, small_session, opts.requests))

            def on_large(path=path, p95s=p95s) -> float:
                times = page_latencies(large.url, path, large_session, opts.requests)
                p95s.append(times[int(0.95 * (len(times) - 1))])
                return statistics.median(times)

            row = harness.compare(
                f"reports: {page} p50, {opts.large:,} ÷ {opts.small:,} runs",
                on_small,
                on_large,
                unit="ms",
                rounds=opts.rounds,
                goal=("<=", 1.5),
            )
            p95 = harness.record(
                harness.Row(f"reports: {page} p95 at {opts.large:,} runs", "ms", p95s, machine=row.machine,
                            goal=("<=", 150.0))
            )  # fmt: skip
            out[page] = {"ratio": row.figure(), "p95": p95.figure()}
    return out
