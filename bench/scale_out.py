"""Scale-out simulation on this box (``python -m bench scale_out``), on ``bench.harness``.

Issue 22, item 5: the same work with more processes, interleaved like every other comparison.

* **Web**: three stacks side by side with 1, 2 and 4 gunicorn workers (each its own database);
  per round the 1-worker stack (A) and a wider one (B) take the same load of single-run POSTs,
  then of auto-allowed action requests, in rotating order with an A/A control. B/A is the
  speed-up from more workers: about ×2 from 1 to 2 workers means the web tier scales with
  cores; flat means something else saturates first (on a 2-core box, 4 workers can only share
  the same two cores).
* **Celery**: two stacks with the same seeded fleet (``--agents``, ``--runs``; every 50th agent
  drifting) and 1 and 2 Celery worker processes; one drift cycle dispatched in chunks of
  ``--chunk`` agents (so the chunks can spread over workers) is timed on each, interleaved.

Each stack has its own Redis database for its broker, so one stack's workers never take another
stack's tasks. The extrapolation these figures support is in docs/SCALING.md."""

from __future__ import annotations

from bench import drift, gate, harness, telemetry

CYCLE = r"""
import sys, time
import django
django.setup()
from celery import group
from evals import services
from evals.tasks import drift_check_fleet

chunk = int(sys.argv[1])
ids = sorted(services.production_agent_ids())
t = time.perf_counter()
result = group(drift_check_fleet.s(agent_ids=ids[i : i + chunk]) for i in range(0, len(ids), chunk)).apply_async()
alerts = sum(result.get(timeout=600))
print("RESULT", time.perf_counter() - t, alerts)
"""


def _broker(db: int) -> dict[str, str]:
    base = harness.os.environ.get("BENCH_REDIS_URL") or harness.os.environ.get("REDIS_URL") or harness.DEFAULT_REDIS
    url = base.rsplit("/", 1)[0] + f"/{db}"
    return {"CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url, "REDIS_URL": url}


def _web(opts) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    stacks = {w: harness.Stack(f"scale_w{w}", workers=w, env=_broker(10 + w)) for w in (1, 2, 4)}
    try:
        for stack in stacks.values():
            stack.__enter__()
            stack.agent_key()
            stack.python(gate.POLICY_SETUP)

        def runs(w: int):
            post = harness.post_json(
                "/api/v1/runs/", stacks[w].agent_key(), lambda i: telemetry.run_payload(i, f"s{w}", now)
            )
            return lambda: harness.http_load(stacks[w].url, post, total=opts.requests, clients=opts.clients)

        def actions(w: int):
            post = harness.post_json("/api/v1/action-requests/", stacks[w].agent_key(), gate.refund)
            return lambda: harness.http_load(stacks[w].url, post, total=opts.requests, clients=opts.clients)

        for wide in (2, 4):
            harness.compare(
                f"scale-out: runs/s, {wide} gunicorn workers ÷ 1", runs(1), runs(wide), unit="req/s", rounds=opts.rounds
            )
            harness.compare(
                f"scale-out: action decisions/s, {wide} workers ÷ 1",
                actions(1),
                actions(wide),
                unit="req/s",
                rounds=opts.rounds,
            )
    finally:
        for stack in stacks.values():
            stack.__exit__(None, None, None)


def _celery(opts) -> None:
    stacks = {n: harness.Stack(f"scale_c{n}", serve=False, env=_broker(5 + n)) for n in (1, 2)}
    try:
        for n, stack in stacks.items():
            stack.__enter__()
            stack.python(drift.SEED, str(opts.agents), str(opts.runs), timeout=3600)
            for _ in range(n):
                stack.start_celery()
            stack.python(CYCLE, str(opts.chunk))  # warm-up, and opens the drifting agents' alerts

        def cycle(n: int):
            return lambda: float(stacks[n].python(CYCLE, str(opts.chunk))[0])

        harness.compare(
            f"scale-out: drift cycle s, {opts.agents:,} agents, 2 Celery workers ÷ 1",
            cycle(1),
            cycle(2),
            unit="s",
            rounds=opts.rounds,
        )
    finally:
        for stack in stacks.values():
            stack.__exit__(None, None, None)


def main(args: list[str] | None = None) -> None:
    opts = harness.options("scale_out", args, rounds=5, requests=60, clients=8, agents=200, runs=30, chunk=50, only="")
    if opts.only in ("", "web"):
        _web(opts)
    if opts.only in ("", "celery"):
        _celery(opts)
