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
``--rounds R`` (6)."""

from __future__ import annotations

import json

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
"""


def refund(i: int) -> dict:
    params = {
        "amount_usd": 10 + i % 40,
        "customer_tier": "pro",
        "order_id": f"A-{i}",
        "card_number": "4111111111111111",
    }
    return {"tool": "payments.refund", "idempotency_key": f"bench-{i}", "parameters": params}


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
    return {"ratio": row.figure(), "row": row.as_dict()}
