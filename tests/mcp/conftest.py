"""Fixtures of the MCP gateway's tests (issue 17): a live Quorum (pytest-django's live server),
an agent whose deployed version grants ``payments.refund`` under the demo policy and pins the
sample upstream's refund tool, its key, the two support managers; and helpers that start real
MCP processes (the sample upstream, the gateway) over stdio or streamable HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from actions.demo import REFUND_POLICY, ensure_support_managers
from actions.services import policy_version_create
from tests.actions.conftest import grant_deployed
from tests.factories import ToolFactory

UPSTREAM = [sys.executable, "-m", "quorum_mcp.sample_upstream"]
GATEWAY = [sys.executable, "-m", "quorum_mcp"]


def in_own_thread(call):
    """``call()`` in a thread of its own, its result returned and its exception raised here.

    An earlier test in the same session (Playwright's sync API) may leave an asyncio loop running
    in the main thread, where ``anyio.run`` and ``Runner.run_sync`` refuse to start ("Cannot run the
    event loop while another loop is running"): a fresh thread has no loop. The thread's database
    connection is closed when it ends, so the test database can be dropped."""
    from django.db import connections

    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name="mcp-test-loop")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def pin_deployed(version, *, name, description, input_schema):
    """Pin a tool definition in a deployed version: a fixture shortcut past the frozen-pin rule
    (the real path is a ``tool_pin`` request, see tests/actions/test_tool_pins.py)."""
    from registry.canonical import tool_definition_hash
    from registry.models import ToolPin

    ToolPin.objects.bulk_create(
        [
            ToolPin(
                version=version,
                name=name,
                description=description,
                input_schema=input_schema,
                definition_hash=tool_definition_hash(name=name, description=description, input_schema=input_schema),
            )
        ]
    )
    version.refresh_bundle_digest()


# What the sample upstream's kb.search said when it was pinned; it says something else now.
STALE_SEARCH_DESCRIPTION = "Search the knowledge base (read-only, public articles only)."


@pytest.fixture
def gated_agent(reseeded, agent, board_user):
    """``agent``: payments.refund granted under the demo policy (allow <= 50 for standard/pro,
    deny <= 0, two support managers above 50). Its deployed version pins the sample upstream's
    refund tool as served, kb.search with a description the upstream no longer serves (a changed
    tool), and not crm.note_add (an unpinned tool). Answers the two support managers."""
    import importlib

    import anyio
    from django.apps import apps
    from quorum_mcp import sample_upstream

    importlib.import_module("actions.migrations.0002_permissions_and_schedules").seed(apps, None)
    managers = list(ensure_support_managers(password="pw").user_set.order_by("username"))
    tool = ToolFactory(name="payments.refund", system="Stripe", action_tier=3)
    version = grant_deployed(agent, tool)
    policy_version_create(tool=tool, actor=board_user, **REFUND_POLICY)
    served = {tool.name: tool for tool in in_own_thread(lambda: anyio.run(sample_upstream.build().list_tools))}
    refund, search = served["payments.refund"], served["kb.search"]
    pin_deployed(version, name=refund.name, description=refund.description, input_schema=refund.input_schema)
    pin_deployed(version, name=search.name, description=STALE_SEARCH_DESCRIPTION, input_schema=search.input_schema)
    return managers


def gateway_env(live_server, agent_key) -> dict:
    return {**os.environ, "QUORUM_URL": live_server.url, "QUORUM_AGENT_KEY": agent_key}


def start_http(argv: list[str], env: dict | None = None, **popen) -> tuple[subprocess.Popen, str]:
    """Start a process that serves streamable HTTP on a port it picks and prints (``PORT n``);
    ``popen``: more arguments for ``subprocess.Popen`` (``stderr=subprocess.PIPE``)."""
    proc = subprocess.Popen([*argv, "--http", "0"], stdout=subprocess.PIPE, env=env, text=True, **popen)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"{argv} did not start: {line!r}")
    url = f"http://127.0.0.1:{int(line.split()[1])}/mcp"
    _wait_listening(url)
    return proc, url


def _wait_listening(url: str, timeout: float = 20.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {url}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def in_thread(fn, *args, **kwargs) -> threading.Thread:
    """Run ``fn`` in a thread with its own database connection (closed at the end): people
    deciding while the agent's call waits in the gateway."""

    def target():
        try:
            fn(*args, **kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
