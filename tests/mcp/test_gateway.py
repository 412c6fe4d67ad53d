"""Issue 17, item 2: the MCP gateway with a real MCP client, the real gateway process and a real
upstream MCP server from the ``mcp`` package, over stdio and over streamable HTTP, against a live
Quorum. The pinned refund tool passes through the action gate (allowed; denied with the policy's
reason; waiting until two support managers approve; stopped by the kill switch). kb.search,
whose description changed since it was pinned, and crm.note_add, never pinned, are hidden from
the agent, each recorded as a compliance violation with a two-person pin request. Every call is
recorded as a run summary (channel ``mcp``)."""

from __future__ import annotations

import re
import shlex
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from actions.models import ActionRequest
from approvals.models import ApprovalRequest
from approvals.services import decision_record
from telemetry.models import ComplianceViolation, Run

from .conftest import GATEWAY, UPSTREAM, gateway_env, in_own_thread, in_thread, start_http, stop

pytestmark = [pytest.mark.django_db(transaction=True)]

ORDER = {"customer_tier": "standard", "order_id": "A-1001"}


def _text(result) -> str:
    return " ".join(block.text for block in result.content if getattr(block, "text", None))


def _approve_when_pending(managers) -> None:
    """The two support managers approve the first pending refund, through the real service."""
    deadline = time.monotonic() + 30
    action = None
    while action is None and time.monotonic() < deadline:
        action = ActionRequest.objects.filter(status="pending").select_related("approval_request").first()
        time.sleep(0.05)
    assert action is not None, "no pending action request reached Quorum"
    request = action.approval_request
    for manager in managers:
        decision_record(
            request_id=request.pk,
            approver=manager,
            verdict="approve",
            reason="checked",
            payload_hash=request.payload_hash,
        )


def _pull_kill_switch(operator) -> None:
    from django.db import connection

    from incidents.services import kill_switch_pull
    from registry.models import Agent

    try:
        kill_switch_pull(agent=Agent.objects.get(slug="support-triage"), actor=operator, reason="refund storm")
    finally:
        connection.close()


async def _scenario(client: Client, managers, operator) -> dict:
    seen = {"tools": sorted(tool.name for tool in (await client.list_tools()).tools)}
    seen["small"] = await client.call_tool("payments.refund", {"amount_usd": 50, **ORDER})
    seen["negative"] = await client.call_tool("payments.refund", {"amount_usd": 0, **ORDER})
    seen["changed"] = await client.call_tool("kb.search", {"query": "refunds"})
    seen["unpinned"] = await client.call_tool("crm.note_add", {"customer_id": "C-1", "text": "hi"})
    approving = in_thread(_approve_when_pending, managers)
    seen["large"] = await client.call_tool("payments.refund", {"amount_usd": 120, **ORDER})
    approving.join(timeout=30)
    await anyio.to_thread.run_sync(_pull_kill_switch, operator)
    seen["killed"] = await client.call_tool("payments.refund", {"amount_usd": 10, **ORDER})
    return seen


def _check(seen: dict) -> None:
    assert seen["tools"] == ["payments.refund"], "a changed and an unpinned tool are hidden"
    assert not seen["small"].is_error and _text(seen["small"]) == "refunded 50 USD on order A-1001"
    assert seen["negative"].is_error
    assert "Denied by Quorum: A refund amount must be positive." in _text(seen["negative"])
    assert not seen["large"].is_error and _text(seen["large"]) == "refunded 120 USD on order A-1001"
    assert ActionRequest.objects.get(parameters__amount_usd=120).status == "approved"
    assert seen["killed"].is_error and "side effects disabled" in _text(seen["killed"])

    assert seen["changed"].is_error and "hidden by Quorum" in _text(seen["changed"])
    assert "tool changed" in _text(seen["changed"])
    assert seen["unpinned"].is_error and "tool unpinned" in _text(seen["unpinned"])
    assert not ActionRequest.objects.filter(tool__name__in=["kb.search", "crm.note_add"]).exists()
    changed = ComplianceViolation.objects.get(kind="tool_changed")
    unpinned = ComplianceViolation.objects.get(kind="tool_unpinned")
    assert "kb.search" in changed.detail and "crm.note_add" in unpinned.detail
    pins = ApprovalRequest.objects.filter(kind="tool_pin", status="pending")
    assert sorted(pins.values_list("payload__name", flat=True)) == ["crm.note_add", "kb.search"]
    assert pins.get(payload__name="kb.search").payload["description"] == "Search the knowledge base."


def _runs_recorded(expected: int) -> list[dict]:
    """The gateway's run summaries arrive in batches (and at the latest when it exits)."""
    deadline = time.monotonic() + 15
    runs = Run.objects.filter(channel="mcp")
    while time.monotonic() < deadline and runs.count() < expected:
        time.sleep(0.1)
    return list(runs.values("tools_used", "outcome", "policy_blocks"))


def _documented_command() -> list[str]:
    """The gateway command docs/agents.md shows (block ``mcp-gateway``), with this interpreter
    for ``quorum-mcp`` and ``python``, the environment assignments left to ``gateway_env``."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "agents.md").read_text()
    block = re.search(r"<!-- tested: mcp-gateway -->\s*\n```sh\n(.*?)\n```", text, re.S).group(1)
    argv = [word for word in shlex.split(block.replace("\\\n", " ")) if "=" not in word.split(" ")[0]]
    assert argv[0] == "quorum-mcp", argv
    return [*GATEWAY, *(arg.replace("stdio:python ", f"stdio:{sys.executable} ") for arg in argv[1:])]


def test_gateway_over_stdio(live_server, agent_key, gated_agent, operator_user):
    command = _documented_command()
    assert f"stdio:{shlex.join(UPSTREAM)}" in command
    gateway = StdioServerParameters(command=command[0], args=command[1:], env=gateway_env(live_server, agent_key))

    async def main():
        async with Client(gateway, mode="legacy", cache=None) as client:
            return await _scenario(client, gated_agent, operator_user)

    _check(in_own_thread(lambda: anyio.run(main)))
    runs = _runs_recorded(expected=6)
    assert len(runs) == 6, runs  # every call: passed, denied, hidden (2), approved, killed
    assert sum(run["outcome"] == "resolved" for run in runs) == 2
    assert all(run["tools_used"] for run in runs)


def test_gateway_over_streamable_http(live_server, agent_key, gated_agent, operator_user):
    upstream, upstream_url = start_http(UPSTREAM)
    try:
        gateway, gateway_url = start_http(
            [*GATEWAY, "--upstream", upstream_url, "--poll", "0.1"], env=gateway_env(live_server, agent_key)
        )
        try:

            async def main():
                async with Client(gateway_url, cache=None) as client:
                    return await _scenario(client, gated_agent, operator_user)

            seen = in_own_thread(lambda: anyio.run(main))
        finally:
            stop(gateway)
    finally:
        stop(upstream)
    _check(seen)


def test_tools_list_changed_rehashes_and_hides_a_changed_tool(live_server, agent_key, gated_agent):
    """The upstream changes the pinned refund tool's description after it was approved and
    announces ``tools/list_changed``: the gateway re-hashes, hides it from the agent, and Quorum
    has a ``tool_changed`` violation and a pin request for the new definition; the next call
    never reaches the action gate."""
    from .rug_pull_upstream import POISONED

    upstream = f"stdio:{sys.executable} -m tests.mcp.rug_pull_upstream"
    env = {**gateway_env(live_server, agent_key), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    gateway = StdioServerParameters(command=GATEWAY[0], args=[*GATEWAY[1:], "--upstream", upstream], env=env)

    async def main():
        seen = {}
        async with Client(gateway, mode="legacy", cache=None) as client:
            seen["before"] = sorted(tool.name for tool in (await client.list_tools()).tools)
            seen["pulled"] = await client.call_tool(
                "payments.refund", {"amount_usd": 10, **ORDER, "order_id": "RUG-PULL"}
            )
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # the re-check runs in the gateway's own task
                seen["after"] = sorted(tool.name for tool in (await client.list_tools()).tools)
                if "payments.refund" not in seen["after"]:
                    break
                await anyio.sleep(0.05)
            seen["blocked"] = await client.call_tool("payments.refund", {"amount_usd": 10, **ORDER})
        return seen

    seen = in_own_thread(lambda: anyio.run(main))
    assert seen["before"] == ["payments.refund"]
    assert not seen["pulled"].is_error, _text(seen["pulled"])
    assert seen["after"] == [], "the changed refund tool is hidden after the list change"
    assert seen["blocked"].is_error and "hidden by Quorum" in _text(seen["blocked"])
    assert "tool changed" in _text(seen["blocked"])
    assert ActionRequest.objects.filter(tool__name="payments.refund").count() == 1, "only the call before the change"
    violation = ComplianceViolation.objects.get(kind="tool_changed", detail__contains="payments.refund")
    assert violation.agent.slug == "support-triage"
    pin = ApprovalRequest.objects.get(kind="tool_pin", status="pending", payload__name="payments.refund")
    assert pin.payload["description"] == POISONED


def test_the_server_finds_a_called_tools_schema_without_listing_tools(live_server, agent_key, gated_agent):
    """Before each ``tools/call`` the MCP server checks the call's ``Mcp-Param-*`` headers against
    the tool's input schema; the gateway hands it the schema of a visible tool directly (it ran the
    whole ``tools/list`` handler per call before), and nothing for a hidden or unknown tool."""
    from contextlib import AsyncExitStack

    from quorum_mcp import Gateway, Upstream
    from quorum_sdk import QuorumClient

    async def main():
        quorum = QuorumClient(live_server.url, agent_key)
        gateway = Gateway(quorum, [Upstream.parse(f"stdio:{shlex.join(UPSTREAM)}")], record_runs=False)
        try:
            async with AsyncExitStack() as stack:
                await gateway.connect(stack)
                lookup = gateway.server.get_tool_input_schema
                listed = {tool.name: tool for _upstream, tool in gateway.visible.values()}
                return lookup, {name: lookup(name) for name in ("payments.refund", "kb.search", "nope")}, listed
        finally:
            await anyio.to_thread.run_sync(quorum.close)

    lookup, schemas, listed = in_own_thread(lambda: anyio.run(main))
    assert lookup is not None, "without the lookup the server lists every tool before each call"
    assert schemas["payments.refund"] == listed["payments.refund"].input_schema
    assert schemas["payments.refund"]["required"] == ["amount_usd", "customer_tier", "order_id"]
    assert schemas["kb.search"] is None and schemas["nope"] is None
