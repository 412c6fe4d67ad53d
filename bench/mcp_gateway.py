"""MCP gateway benchmark (``make bench`` or ``python -m bench mcp_gateway``), on ``bench.harness``.

What the gateway adds to an allowed tool call, on loopback: the sample upstream MCP server
(``quorum_mcp.sample_upstream``) over streamable HTTP, and ``quorum-mcp`` in front of it over
streamable HTTP, asking a real Quorum (gunicorn, production-like settings, its own fresh database)
before every call. One MCP client session to each; each round times ``--calls`` calls of
``payments.refund`` for 10 USD (allowed by the seeded policy), alternating direct and through the
gateway call by call, so both sides see the same machine. The figure is the median over rounds
of p50(through the gateway) − p50(direct), in ms; goal ≤ 5 ms. Options: ``--calls N`` (100),
``--rounds R`` (5), ``--workers W`` (2)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

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


def _rounds(direct_url: str, gateway_url: str, calls: int, rounds: int) -> list[tuple[float, float]]:
    """Per round: (p50 direct, p50 through the gateway) in ms, calls alternating."""
    import anyio
    from mcp import Client

    async def run() -> list[tuple[float, float]]:
        async with Client(direct_url, cache=None) as direct, Client(gateway_url, cache=None) as gateway:
            for client in (direct, gateway):  # warm both paths (connections, first gate answer)
                for _ in range(5):
                    await client.call_tool("payments.refund", ARGS)
            out = []
            for _ in range(rounds):
                times: dict[str, list[float]] = {"direct": [], "gateway": []}
                for i in range(calls * 2):
                    side, client = ("direct", direct) if i % 2 == 0 else ("gateway", gateway)
                    started = time.perf_counter()
                    result = await client.call_tool("payments.refund", ARGS)
                    times[side].append((time.perf_counter() - started) * 1000)
                    if result.is_error:
                        raise RuntimeError(f"{side}: {result.content}")
                out.append((statistics.median(times["direct"]), statistics.median(times["gateway"])))
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
        try:
            time.sleep(0.5)
            pairs = _rounds(upstream_url, gateway_url, opts.calls, opts.rounds)
        finally:
            for proc in (gateway, upstream):
                proc.terminate()
                proc.wait(timeout=10)
    direct = [d for d, _g in pairs]
    through = [g for _d, g in pairs]
    added = iter([g - d for d, g in pairs])
    row = harness.measure(
        "mcp gateway: added p50 of an allowed call", lambda: next(added), unit="ms", rounds=len(pairs),
        goal=("<=", 5.0),
    )  # fmt: skip
    print(
        f"  direct p50 {statistics.median(direct):.2f} ms, through the gateway {statistics.median(through):.2f} ms "
        f"(ratio {statistics.median(through) / statistics.median(direct):.2f}), {opts.calls} calls each per round",
        flush=True,
    )
    return {"added_ms": row.figure(), "row": row.as_dict()}
