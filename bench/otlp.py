"""OTLP ingest benchmark (``make bench`` or ``python -m bench otlp``).

In one process, on its own freshly migrated database (``quorum_bench_otlp`` by default), through
Django's request handling (authentication, rate limit, decode, mapping, redaction, governance,
storage; no network hop, the same for every path), in interleaved rounds:

(a) OTLP/HTTP protobuf: ``POST /v1/traces`` with 512 spans per request (the SDK batch processor's
    batch), runs of 8 spans each (``invoke_agent``, 2 ``chat``, 5 ``execute_tool``): 64 runs;
(b) the REST batch ingest of the same 64 runs: ``POST /api/v1/runs/batch/``;
(c) PostgreSQL ``COPY`` of 512 span rows of the same shape (already mapped and redacted; other
    runs, so the export in (a) never finds its own spans stored) into the day's partition, as the
    ingest writes them: the floor;
(d) the A/A control: a second OTLP export of other runs in the same round (OTLP ÷ OTLP', the noise);
(e) the decode floor, in process: the same protobuf body parsed with the official messages, every
    span mapped to its record and its row redacted and encoded for COPY (``span_rows``): what any
    ingest that keeps the spans must compute before (c), with no request, query or run in it.

Beside the ratio it prints its ceiling on this machine: REST ÷ (REST + decode + COPY), the ratio an
OTLP ingest would reach if storing the runs cost it no more than the whole REST request does and
the spans cost it nothing beyond (e) and (c). A goal above the ceiling cannot be met by the ingest's
own code; only storing less (fewer spans, fewer attributes) would move it.

Prints spans/s of (a) and (c), runs/s of (a) and (b), the ratios a/b per run (goal ≥ 0.5; also as
the median of per-round ratios with its spread, beside the A/A control and the ceiling) and
a/c, the goal of ≥ 10,000 spans/s for (a), and the load average before and after.
Options: ``--rounds N`` (default 12), ``--db NAME``. PostgreSQL from ``BENCH_PG`` (default
``postgres://postgres@127.0.0.1:5432``), Redis from ``BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPANS_PER_REQUEST = 512
SPANS_PER_RUN = 8


def _database(pg: str, name: str) -> str:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{pg}/{name}"


def _request(agent_slug: str, now_ns: int):
    """One ExportTraceServiceRequest of SPANS_PER_REQUEST spans (SPANS_PER_REQUEST / 8 runs)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key, value):
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        if isinstance(value, float):
            return KeyValue(key=key, value=AnyValue(double_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", agent_slug))
    scope = resource_spans.scope_spans.add()
    for _run in range(SPANS_PER_REQUEST // SPANS_PER_RUN):
        trace_id = uuid.uuid4().bytes
        root_id = os.urandom(8)
        start = now_ns - 60_000_000_000
        root = scope.spans.add(trace_id=trace_id, span_id=root_id, name=f"invoke_agent {agent_slug}")
        root.start_time_unix_nano, root.end_time_unix_nano = start, start + 4_000_000_000
        root.attributes.extend(
            [kv("gen_ai.operation.name", "invoke_agent"), kv("gen_ai.agent.name", agent_slug),
             kv("gen_ai.agent.version", "1.0"), kv("gen_ai.request.model", "gpt-4o")]
        )  # fmt: skip
        for index in range(SPANS_PER_RUN - 1):
            tool = index not in (0, SPANS_PER_RUN - 2)
            child = scope.spans.add(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=root_id)
            child.start_time_unix_nano = start + (index + 1) * 400_000_000
            child.end_time_unix_nano = child.start_time_unix_nano + 300_000_000
            if tool:
                child.name = "execute_tool orders.lookup"
                child.attributes.extend(
                    [kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", "orders.lookup"),
                     kv("gen_ai.tool.call.arguments", '{"order_id": 42, "email": "jane@example.test"}'),
                     kv("gen_ai.tool.call.result", '{"status": "shipped"}')]
                )  # fmt: skip
            else:
                child.name = "chat gpt-4o"
                child.attributes.extend(
                    [kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", "gpt-4o"),
                     kv("gen_ai.usage.input_tokens", 300), kv("gen_ai.usage.output_tokens", 60),
                     kv("gen_ai.usage.cost", 0.002),
                     kv("gen_ai.input.messages", '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]')]
                )  # fmt: skip
    return message


def _setup():
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from registry.models import Agent, AgentVersion, Team, Tool, ToolGrant
    from registry.services import agent_key_issue

    user = get_user_model().objects.create_user(username="bench")
    team = Team.objects.create(slug="bench", name="Bench")
    agent = Agent.objects.create(
        slug="bench-agent", name="Bench", purpose="bench", unit_of_work="run", kpi_name="runs",
        owner_team=team, owner=user, status="production",
    )  # fmt: skip
    version = AgentVersion.objects.create(
        agent=agent, label="1.0", model_provider="openai", model_name="gpt-4o", prompt_ref="0" * 64,
    )  # fmt: skip
    ToolGrant.objects.create(version=version, tool=Tool.objects.create(name="orders.lookup", system="o", action_tier=0))
    # Bench set-up only: the version stands approved without an approval request (the bench measures ingest).
    AgentVersion.objects.filter(pk=version.pk).update(state="deployed", approved_at=timezone.now())
    _key, secret = agent_key_issue(agent=agent, name="bench")
    return agent, secret


def _round_otlp(client, body: bytes, key: str) -> float:
    started = time.perf_counter()
    response = client.generic(
        "POST", "/v1/traces", body, content_type="application/x-protobuf", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.content[:300]
    return elapsed


def _round_rest(client, runs: list[dict], key: str) -> float:
    import json

    body = json.dumps({"runs": runs}, default=str)
    started = time.perf_counter()
    response = client.post(
        "/api/v1/runs/batch/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.json()["created"] == len(runs), response.content[:300]
    return elapsed


def _round_copy(rows: list[tuple]) -> float:
    from django.db import transaction

    from telemetry.otlp import SPANS, spans_copy

    # Into the day's partition, as the ingest itself does when an export's spans start on one day.
    days = {SPANS.slice_start(row[6]) for row in rows}
    table = SPANS.partition_name(days.pop()) if len(days) == 1 else SPANS.name
    started = time.perf_counter()
    with transaction.atomic():
        spans_copy(rows, table)
    return time.perf_counter() - started


def _round_decode(body: bytes, agent_id: int) -> float:
    from django.utils import timezone
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from telemetry.otlp import ExportResult, span_records, span_rows

    started = time.perf_counter()
    now = timezone.now()
    # The ingest's own functions: the floor measures what the receiver runs, never a copy of it.
    records = span_records(ExportTraceServiceRequest.FromString(body), ExportResult(), now)
    rows = span_rows(agent_id, records, now)
    elapsed = time.perf_counter() - started
    assert len(rows) == SPANS_PER_REQUEST
    return elapsed


def _material(agent, now_ns: int):
    """One round's three inputs: the protobuf body, the same runs as REST items, the span rows."""
    from django.utils import timezone

    from telemetry import otlp_mapping as mapping
    from telemetry.otlp import span_rows

    message = _request(agent.slug, now_ns)
    records = [
        mapping.span_record(span, {"service.name": agent.slug})
        for rs in message.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    by_id = {r.span_id: r for r in records}
    roots = [r for r in records if mapping.is_run_root(r, by_id)]
    runs = []
    for root in roots:
        children = [r for r in records if r.parent_span_id == root.span_id]
        item = mapping.run_item(root, children)
        item["run_id"] = "rest-" + item["run_id"].replace(":", "-")
        item["started_at"], item["ended_at"] = item["started_at"].isoformat(), item["ended_at"].isoformat()
        item["cost_usd"] = str(item["cost_usd"])
        runs.append(item)
    return message.SerializeToString(), runs, span_rows(agent.pk, records, timezone.now())


def main(args) -> None:
    parser = argparse.ArgumentParser(prog="bench otlp")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--db", default="quorum_bench_otlp")
    options, _ = parser.parse_known_args([a for a in args if a != "otlp"])
    pg = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    db_url = _database(pg, options.db)
    os.environ.update(
        DATABASE_URL=db_url,
        DJANGO_SETTINGS_MODULE="config.settings_test",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        TELEMETRY_RATE_LIMIT_PER_MINUTE="100000000",
    )
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=os.environ, check=True, timeout=600
    )
    import django

    django.setup()
    from django.test import Client

    agent, key = _setup()
    client = Client()
    load_before = os.getloadavg()
    timings = {"otlp": [], "rest": [], "copy": [], "control": [], "decode": []}
    # Warm-up (imports, first partition, caches), not counted.
    body, runs, rows = _material(agent, time.time_ns())
    _round_otlp(client, body, key)
    _round_rest(client, runs, key)
    names = ["otlp", "rest", "copy", "control", "decode"]
    for round_number in range(options.rounds):
        body, runs, _rows = _material(agent, time.time_ns())
        control_body = _material(agent, time.time_ns())[0]
        # COPY writes the rows of other runs of the same shape: the export's own rows, copied before
        # it in half the rounds, made its read-back of stored children find all 512 of its spans
        # (an exporter never sends spans already stored), which the A/A control never paid.
        rows = _material(agent, time.time_ns())[2]
        # Interleaved, the order rotating each round, so drift in machine load hits all alike; the
        # A/A control is a second OTLP export of other runs in the same round: the noise floor.
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in order:
            if name == "otlp":
                timings["otlp"].append(_round_otlp(client, body, key))
            elif name == "control":
                timings["control"].append(_round_otlp(client, control_body, key))
            elif name == "rest":
                timings["rest"].append(_round_rest(client, runs, key))
            elif name == "decode":
                timings["decode"].append(_round_decode(body, agent.pk))
            else:
                timings["copy"].append(_round_copy(rows))
    load_after = os.getloadavg()
    runs_per_request = SPANS_PER_REQUEST // SPANS_PER_RUN
    median = {name: statistics.median(values) for name, values in timings.items()}
    otlp_spans = SPANS_PER_REQUEST / median["otlp"]
    copy_spans = SPANS_PER_REQUEST / median["copy"]
    otlp_runs = runs_per_request / median["otlp"]
    rest_runs = runs_per_request / median["rest"]
    print(f"rounds: {options.rounds} × {SPANS_PER_REQUEST} spans ({runs_per_request} runs of {SPANS_PER_RUN} spans)")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    ms = {name: value * 1000 for name, value in median.items()}
    print(f"(a) OTLP protobuf  {otlp_spans:10,.0f} spans/s  {otlp_runs:8,.0f} runs/s  ({ms['otlp']:.1f} ms/request)")
    print(f"(b) REST batch     {'':10}          {rest_runs:8,.0f} runs/s  ({ms['rest']:.1f} ms/request)")
    print(f"(c) COPY of spans  {copy_spans:10,.0f} spans/s  {'':8}          ({ms['copy']:.1f} ms/batch)")
    per_round = [rest / otlp for otlp, rest in zip(timings["otlp"], timings["rest"], strict=True)]
    control = [otlp / again for otlp, again in zip(timings["otlp"], timings["control"], strict=True)]
    print(
        f"OTLP / REST per run: {otlp_runs / rest_runs:.2f} (goal ≥ 0.5); per round median "
        f"{statistics.median(per_round):.2f} [{min(per_round):.2f}–{max(per_round):.2f}]; "
        f"A/A control (OTLP ÷ OTLP') {statistics.median(control):.2f} [{min(control):.2f}–{max(control):.2f}]"
    )
    print(
        f"(e) decode floor   {SPANS_PER_REQUEST / median['decode']:10,.0f} spans/s  {'':8}          "
        f"({ms['decode']:.1f} ms/batch)"
    )
    ceiling = [
        rest / (rest + decode + copy)
        for rest, decode, copy in zip(timings["rest"], timings["decode"], timings["copy"], strict=True)
    ]
    print(
        f"ceiling of OTLP / REST on this machine, REST ÷ (REST + decode + COPY): "
        f"{ms['rest'] / (ms['rest'] + ms['decode'] + ms['copy']):.2f}; per round median "
        f"{statistics.median(ceiling):.2f} [{min(ceiling):.2f}–{max(ceiling):.2f}]"
    )
    print(f"OTLP / COPY per span: {otlp_spans / copy_spans:.2f}")
    print(f"OTLP spans/s goal ≥ 10,000: {'met' if otlp_spans >= 10_000 else 'NOT met'}")
