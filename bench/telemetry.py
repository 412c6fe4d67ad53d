"""Telemetry ingest benchmark (``make bench`` or ``python -m bench telemetry``), on ``bench.harness``.

On its own fresh database, with gunicorn on loopback (production-like settings):

* **batch ÷ COPY** — A: a raw psycopg ``COPY`` of N run rows into ``telemetry_run`` (every
  column the API stores, ``version_id`` included: the floor nothing beats); B: the same N rows
  through ``POST /api/v1/runs/batch/`` (1,000 per request, 2 clients). Goal B/A ≥ 0.25.
* **single POST ÷ bare GET** — A: the bare authenticated endpoint ``GET /api/v1/agent/whoami/``
  (same key, same authentication, same throttle); B: single-run ``POST /api/v1/runs/``; the
  same number of requests from the same clients. Goal B/A ≥ 0.6.

Both interleaved over ``--rounds`` rounds with an A/A control (see ``bench.harness``).
Options: ``--rows N`` per measurement (10000), ``--requests M`` (400), ``--clients C`` (8),
``--workers W`` gunicorn workers (2), ``--rounds R`` (5), ``--only batch|single`` to measure one
comparison (both when omitted). PostgreSQL from ``BENCH_PG``, Redis
from ``BENCH_REDIS_URL``."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench import harness

COLUMNS = (
    "agent_id, version_id, run_id, version_label, bundle_digest, model, channel, started_at, ended_at, latency_ms, "
    "status, outcome, reason, input_tokens, output_tokens, cost_usd, tool_calls, tools_used, policy_blocks, "
    "human_minutes, trace_id, metadata, received_at"
)
_TAGS = itertools.count()


def run_payload(i: int, prefix: str, now: datetime) -> dict:
    started = now - timedelta(minutes=30, seconds=i % 1000)
    return {
        "run_id": f"{prefix}-{i}",
        "version_label": "1.0",
        "model": "gpt-4o",
        "channel": "chat",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=12)).isoformat(),
        "outcome": "resolved" if i % 10 else "escalated",
        "reason": None if i % 10 else "ambiguity",
        "input_tokens": 1200 + i % 300,
        "output_tokens": 240,
        "cost_usd": "0.005400",
        "tool_calls": 2,
        "tools_used": [],
        "trace_id": f"{i:032x}",
        "metadata": {"ticket": f"T-{i}"},
    }


def copy_rows(db_url: str, agent_id: int, version_id: int, rows: int) -> float:
    """A: rows/s of a raw COPY of ``rows`` run rows (the payload building is not timed)."""
    import psycopg

    now = datetime.now(UTC)
    prefix = f"copy{next(_TAGS)}"
    data = []
    for i in range(rows):
        p = run_payload(i, prefix, now)
        data.append(
            (agent_id, version_id, p["run_id"], "1.0", "", "gpt-4o", "chat", datetime.fromisoformat(p["started_at"]),
             datetime.fromisoformat(p["ended_at"]), 12000, "ok", p["outcome"], p["reason"] or "",
             p["input_tokens"], 240, Decimal("0.0054"), 2, "[]", 0, Decimal("0"), p["trace_id"],
             json.dumps(p["metadata"]), now)
        )  # fmt: skip
    with psycopg.connect(db_url) as conn:
        start = harness.time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY telemetry_run ({COLUMNS}) FROM STDIN") as copy:  # noqa: S608
            for row in data:
                copy.write_row(row)
        conn.commit()
        return rows / (harness.time.perf_counter() - start)


def batch_rows(url: str, key: str, rows: int, clients: int = 2) -> float:
    """B: rows/s through POST /api/v1/runs/batch/ in batches of 1,000 (bodies built before timing)."""
    now = datetime.now(UTC)
    prefix = f"batch{next(_TAGS)}"
    bodies = [
        json.dumps({"runs": [run_payload(i, prefix, now) for i in range(start, min(rows, start + 1000))]}).encode()
        for start in range(0, rows, 1000)
    ]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    order = itertools.count()

    def make(_i: int) -> harness.Request:
        return "POST", "/api/v1/runs/batch/", bodies[next(order)], headers, 200

    per_second = harness.http_load(url, make, total=len(bodies), clients=clients)
    return per_second * rows / len(bodies)


def main(args: list[str] | None = None) -> dict:
    opts = harness.options("telemetry", args, rows=10_000, requests=400, only="")
    figures: dict[str, float] = {}
    with harness.Stack("telemetry", workers=opts.workers) as stack:
        key = stack.agent_key()
        agent_id, version_id = stack.agent_ids
        if opts.only in ("", "batch"):
            figures["b_over_a"] = _batch_row(stack, key, agent_id, version_id, opts)
        if opts.only in ("", "single"):
            figures["c_over_bare"] = _single_row(stack, key, opts)
    return figures


def _batch_row(stack: harness.Stack, key: str, agent_id: int, version_id: int, opts) -> float:
    row = harness.compare(
        "runs: batch API ÷ COPY",
        lambda: copy_rows(stack.db_url, agent_id, version_id, opts.rows),
        lambda: batch_rows(stack.url, key, opts.rows),
        unit="rows/s",
        rounds=opts.rounds,
        goal=(">=", 0.25),
    )
    return row.figure()


def _single_row(stack: harness.Stack, key: str, opts) -> float:
    now = datetime.now(UTC)
    bare = harness.get("/api/v1/agent/whoami/", key)
    single = harness.post_json("/api/v1/runs/", key, lambda i: run_payload(i, "single", now))
    row = harness.compare(
        "runs: single POST ÷ bare GET",
        lambda: harness.http_load(stack.url, bare, total=opts.requests, clients=opts.clients),
        lambda: harness.http_load(stack.url, single, total=opts.requests, clients=opts.clients),
        unit="req/s",
        rounds=opts.rounds,
        goal=(">=", 0.6),
    )
    return row.figure()
