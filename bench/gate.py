"""Action-gate benchmark (``make bench`` or ``python -m bench gate``), on ``bench.harness``.

On its own fresh database, with gunicorn on loopback (production-like settings):

* A: the bare authenticated endpoint ``GET /api/v1/agent/whoami/`` (same key, same
  authentication and throttle);
* B: automatically decided action requests — ``POST /api/v1/action-requests/`` for
  ``payments.refund`` under the seeded policy, each with a new idempotency key, every answer
  ``allowed`` by rule 2 (each request parses, validates, evaluates the rules, redacts and
  stores one row with its audit entry);

the same number of requests from the same clients, interleaved with an A/A control. Goal
B/A ≥ 0.6. Options: ``--requests M`` (400), ``--clients C`` (8), ``--workers W`` (2),
``--rounds R`` (6).

Issue 18, item 7 (the gate stays fast with context), two more rows:

* **per additional rule, in process** (µs): the evaluator (``actions.language``) deciding one
  request's values (parameters and a full context) under a policy of 1 rule and of 100 rules (99
  that do not match, reading parameters and ``context.`` fields, then the one that does), first
  match wins as in the gate; (t100 − t1) / 99 (100 is the most a policy holds). Goal ≤ 1 µs.
* **auto-decided action request with context, p50** (ms): one client, sequential requests to
  ``tickets.reply`` whose policy reads the context (spend, session step, incident, hour), each
  with a session id and a cost, so the gate computes the context (one query), checks the budget
  ceilings and charges the counters (one upsert). The goal is on server time, read from each
  answer's ``Server-Timing: app;dur=`` header (``config/server_timing.py``: from the first
  middleware in to the response leaving it); the round trip at the client on loopback, an upper
  bound, is the next row. Goal ≤ 5 ms.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from decimal import Decimal

from bench import harness

POLICY_SETUP = """
import django; django.setup()
from registry.models import AgentVersion, Tool, ToolGrant
from actions.demo import REFUND_POLICY, ensure_support_managers
from actions.services import policy_version_create, policy_current
ensure_support_managers(password="bench-only")
tool, _ = Tool.objects.get_or_create(name="payments.refund", defaults={"system": "Stripe", "action_tier": 3})
if policy_current(tool=tool) is None:
    policy_version_create(tool=tool, **REFUND_POLICY)
# The gate refuses tools the deployed version was not granted (a bench shortcut past the
# frozen-grant rule; the real path is a tool-grant request).
version = AgentVersion.objects.get(agent__slug="bench-agent", state="deployed")
if not version.grants.filter(tool=tool).exists():
    ToolGrant.objects.bulk_create([ToolGrant(version=version, tool=tool, constraints={})])
    version.refresh_bundle_digest()
# Issue 18: a tool whose policy reads the context, and budgets on the agent (a bench shortcut past
# the scope change that sets them), so the context, the ceilings and the charge all run.
reply, _ = Tool.objects.get_or_create(name="tickets.reply", defaults={"system": "Zendesk", "action_tier": 2})
if policy_current(tool=reply) is None:
    policy_version_create(tool=reply, fields_source="ticket: string", rules_source=CONTEXT_RULES)
if not version.grants.filter(tool=reply).exists():
    ToolGrant.objects.bulk_create([ToolGrant(version=version, tool=reply, constraints={})])
    version.refresh_bundle_digest()
from registry.models import Agent
Agent.objects.filter(slug="bench-agent").update(
    budget_hard_cap_usd=10**9, budget_session_steps=10**6, budget_session_cost_usd=10**9, budget_day_steps=10**8
)
"""

CONTEXT_RULES = (
    'deny "spend" if context.spend_today_usd >= 1000000000\n'
    'deny "steps" if context.session_step > 1000000\n'
    'deny "incident" if context.active_incident and context.agent_tier >= 3\n'
    "deny \"night\" if context.hour < 0 or context.weekday == 'sun' and context.environment == 'retired'\n"
    "allow"
)
POLICY_SETUP = "CONTEXT_RULES = " + repr(CONTEXT_RULES) + "\n" + POLICY_SETUP


def refund(i: int) -> dict:
    params = {
        "amount_usd": 10 + i % 40,
        "customer_tier": "pro",
        "order_id": f"A-{i}",
        "card_number": "4111111111111111",
    }
    return {"tool": "payments.refund", "idempotency_key": f"bench-{i}", "parameters": params}


def reply(i: int) -> dict:
    return {
        "tool": "tickets.reply",
        "idempotency_key": f"ctx-{i}",
        "parameters": {"ticket": f"T-{i}"},
        "session_id": f"s-{i // 20}",
        "cost_usd": "0.01",
    }


def _allowed(body: bytes) -> bool:
    return json.loads(body).get("status") == "allowed"


def main(args: list[str] | None = None) -> dict:
    opts = harness.options("gate", args, requests=400)
    with harness.Stack("gate", workers=opts.workers) as stack:
        key = stack.agent_key()
        stack.python(POLICY_SETUP)
        bare = harness.get("/api/v1/agent/whoami/", key)
        gate = harness.post_json("/api/v1/action-requests/", key, refund)
        row = harness.compare(
            "actions: auto-allowed request ÷ bare GET",
            lambda: harness.http_load(stack.url, bare, total=opts.requests, clients=opts.clients),
            lambda: harness.http_load(stack.url, gate, total=opts.requests, clients=opts.clients, check=_allowed),
            unit="req/s",
            rounds=opts.rounds,
            goal=(">=", 0.6),
        )
        # Two figures from the same requests: the server's own time (its Server-Timing header, what
        # the goal names) and the round trip at the client (an upper bound, network and client in).
        client_p50: list[float] = []
        latency = harness.measure(
            "actions: auto-decided request with context p50, server time",
            lambda: _p50_ms(
                stack.url, harness.post_json("/api/v1/action-requests/", key, reply), opts.requests, client_p50
            ),
            unit="ms",
            rounds=opts.rounds,
            goal=("<=", 5.0),
        )
        client = harness.record(
            harness.Row(
                "actions: the same requests' p50 at the client (loopback)",
                "ms",
                client_p50,
                machine=latency.machine,
                control=client_p50[1:] + client_p50[:1],
            )
        )
    per_rule = harness.measure(
        "actions: evaluation per additional rule", _per_rule_us, unit="µs", rounds=opts.rounds, goal=("<=", 1.0)
    )
    return {
        "ratio": row.figure(),
        "row": row.as_dict(),
        "context_p50_ms": latency.figure(),
        "context_client_p50_ms": client.figure(),
        "per_rule_us": per_rule.figure(),
    }


def _p50_ms(url: str, make, total: int, client_p50: list[float]) -> float:
    """Median server milliseconds (``Server-Timing: app;dur=``) of ``total`` sequential requests on
    one keep-alive connection; the median round trip at the client is appended to ``client_p50``."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    base = next(_ROUND) * 10_000_000
    times, server = [], []
    try:
        for i in range(total):
            method, path, body, headers, expect = make(base + i)
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            times.append((time.perf_counter() - start) * 1000)
            if response.status != expect or not _allowed(data):
                raise RuntimeError(f"answered {response.status}: {data[:200]!r}")
            server.append(server_timing_ms(response.getheader("Server-Timing", "")))
    finally:
        conn.close()
    client_p50.append(statistics.median(times))
    return statistics.median(server)


def server_timing_ms(header: str) -> float:
    """The ``app`` duration of a ``Server-Timing`` header (``app;dur=3.21``), in ms."""
    for metric in header.split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name == "app":
            for param in params:
                key, _, value = param.partition("=")
                if key == "dur":
                    return float(value)
    raise RuntimeError(f"no app duration in Server-Timing: {header!r}")


_ROUND = iter(range(1, 10**6))


def _policy(rules: int) -> list[dict]:
    from actions.language import fields_parse, rules_parse

    fields = fields_parse("amount_usd: decimal\ncustomer_tier: enum(standard, pro, enterprise)")
    misses = [f'deny "r{n}" if amount_usd > {1000 + n} and context.spend_today_usd >= {n}' for n in range(rules - 1)]
    return rules_parse("\n".join([*misses, "allow if customer_tier in ['standard', 'pro']"]), fields)


CONTEXT_VALUES = {
    "amount_usd": Decimal("50"),
    "customer_tier": "pro",
    "context.agent_tier": Decimal(2),
    "context.environment": "production",
    "context.active_incident": False,
    "context.spend_today_usd": Decimal("12.50"),
    "context.spend_month_usd": Decimal("300"),
    "context.session_step": Decimal(3),
    "context.hour": Decimal(14),
    "context.weekday": "tue",
}


def _decide(rules: list[dict], values: dict) -> str:
    from actions.language import rule_predicate

    for rule in rules:  # first match wins, as actions.services.policy_outcome
        if rule_predicate(rule)(values):
            return rule["outcome"]
    return "default"


def _per_rule_us() -> float:
    """(time of 100 rules − time of 1 rule) / 99, in µs, over many decisions each."""
    short, long = _policy(1), _policy(100)
    n = 2000
    timings = {}
    for name, rules in (("short", short), ("long", long)):
        assert _decide(rules, CONTEXT_VALUES) == "allow"
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(n):
                _decide(rules, CONTEXT_VALUES)
            best = min(best, (time.perf_counter() - start) / n)
        timings[name] = best
    return (timings["long"] - timings["short"]) / 99 * 1e6
