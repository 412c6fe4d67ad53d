"""MCP gateway benchmark (``make bench`` or ``python -m bench mcp_gateway``), on ``bench.harness``.

What the gateway adds to an allowed tool call, on loopback: the sample upstream MCP server
(``quorum_mcp.sample_upstream``) over streamable HTTP, and ``quorum-mcp`` in front of it over
streamable HTTP, asking a real Quorum (gunicorn, production-like settings, its own fresh database)
before every call. One MCP client session to each; each round times ``--calls`` calls of
``payments.refund`` for 10 USD (allowed by the seeded policy), taking turns call by call with a
third kind, the gate's own ask from this process (what the gateway sends before each call), so all
three see the same machine. The figure is the median over rounds of p50(through the gateway) −
p50(direct), in ms; goal ≤ 5 ms. A second row subtracts the gate's own ask: what the gateway
itself adds. Options: ``--calls N`` (100), ``--rounds R`` (5), ``--workers W`` (2)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from quorum_sdk import QuorumClient

from bench import harness

PIN_SETUP = """
import django; django.setup()
import anyio
from registry.models import AgentVersion, Tool, ToolGrant, ToolPin
from registry.canonical import tool_definition_hash
from actions.demo import REFUND_POLICY, ensure_support_managers
from actions.services import policy_version_create, policy_current
ensure_support_managers(password="bench-only")
from quorum_mcp import sample_upstream
tool, _ = Tool.objects.get_or_create(name="payments.refund", defaults={"system": "Stripe", "action_tier": 3})
if policy_current(tool=tool) is None:
    policy_version_create(tool=tool, **REFUND_POLICY)
# Bench shortcuts past the frozen-version rules (the real paths are tool_grant and tool_pin requests).
version = AgentVersion.objects.get(agent__slug="bench-agent", state="deployed")
if not version.grants.filter(tool=tool).exists():
    ToolGrant.objects.bulk_create([ToolGrant(version=version, tool=tool, constraints={})])
refund = next(t for t in anyio.run(sample_upstream.build().list_tools) if t.name == "payments.refund")
ToolPin.objects.filter(version=version).delete()
ToolPin.objects.bulk_create([ToolPin(version=version, name=refund.name, description=refund.description,
    input_schema=refund.input_schema, definition_hash=tool_definition_hash(name=refund.name,
    description=refund.description, input_schema=refund.input_schema))])
version.refresh_bundle_digest()
"""

ARGS = {"amount_usd": 10, "customer_tier": "pro", "order_id": "A-1"}


def _serve(argv: list[str], env: dict) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(  # noqa: S603 - our own modules, argv built here
        [sys.executable, *argv, "--http", "0"], stdout=subprocess.PIPE, env=env, text=True
    )
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"{argv[:2]} did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/mcp"


def _rounds(direct_url: str, gateway_url: str, quorum, calls: int, rounds: int) -> list[tuple[float, float, float]]:
    """Per round: (p50 direct, p50 through the gateway, p50 of the gate's own ask) in ms, the three
    kinds of call taking turns. The gate's ask is the SDK's ``request_action`` from this process,
    the same request the gateway sends before each call: what the Quorum server itself costs."""
    import anyio
    from mcp import Client

    async def run() -> list[tuple[float, float, float]]:
        async with Client(direct_url, cache=None) as direct, Client(gateway_url, cache=None) as gateway:
            for client in (direct, gateway):  # warm both paths (connections, first gate answer)
                for _ in range(5):
                    await client.call_tool("payments.refund", ARGS)
            out = []
            for _ in range(rounds):
                times: dict[str, list[float]] = {"direct": [], "gateway": [], "gate": []}
                for i in range(calls * 3):
                    side = ("direct", "gateway", "gate")[i % 3]
                    started = time.perf_counter()
                    if side == "gate":
                        answer = quorum.request_action("payments.refund", ARGS)
                        error = answer["status"] != "allowed" and answer
                    else:
                        result = await (direct if side == "direct" else gateway).call_tool("payments.refund", ARGS)
                        error = result.is_error and result.content
                    times[side].append((time.perf_counter() - started) * 1000)
                    if error:
                        raise RuntimeError(f"{side}: {error}")
                out.append(tuple(statistics.median(times[side]) for side in ("direct", "gateway", "gate")))
            return out

    return anyio.run(run)


def main(args: list[str] | None = None) -> dict:
    opts = harness.options("mcp_gateway", args, rounds=5, calls=100)
    with harness.Stack("mcp_gateway", workers=opts.workers) as stack:
        key = stack.agent_key()
        stack.python(PIN_SETUP)
        env = {**os.environ, "QUORUM_URL": stack.url, "QUORUM_AGENT_KEY": key}
        upstream, upstream_url = _serve(["-m", "quorum_mcp.sample_upstream"], env)
        gateway, gateway_url = _serve(["-m", "quorum_mcp", "--upstream", upstream_url], env)
        quorum = QuorumClient(stack.url, key)
        try:
            triples = _rounds(upstream_url, gateway_url, quorum, opts.calls, opts.rounds)
        finally:
            quorum.close()
            for proc in (gateway, upstream):
                proc.terminate()
                proc.wait(timeout=10)
    direct, through, gate = ([t[i] for t in triples] for i in range(3))
    added = iter([g - d for d, g, _a in triples])
    row = harness.measure(
        "mcp gateway: added p50 of an allowed call", lambda: next(added), unit="ms", rounds=len(triples),
        goal=("<=", 5.0),
    )  # fmt: skip
    # What the gateway itself adds besides the gate's answer (Quorum's server-side cost).
    hop = iter([g - d - a for d, g, a in triples])
    own = harness.measure("mcp gateway: added p50 minus the gate's own ask", lambda: next(hop), unit="ms",
                          rounds=len(triples))  # fmt: skip
    print(
        f"  direct p50 {statistics.median(direct):.2f} ms, through the gateway {statistics.median(through):.2f} ms, "
        f"the gate's ask alone {statistics.median(gate):.2f} ms; {opts.calls} calls of each per round",
        flush=True,
    )
    return {"added_ms": row.figure(), "own_ms": own.figure(), "row": row.as_dict()}
