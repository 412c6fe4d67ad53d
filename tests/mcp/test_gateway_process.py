"""The gateway as an operator runs it (issue 17): the real ``quorum-mcp`` process, a live Quorum,
the sample upstream over streamable HTTP.

* Started with an upstream that is down, a key Quorum refuses or a Quorum it cannot reach, it says
  which on one line and exits 1. It used to die of a ``CancelledError`` traceback, the cause hidden
  (the failed start cancelled the task group, and that cancellation reached the upstream client's
  closing request).
* Stopped with Ctrl-C (SIGINT) or SIGTERM (what a service manager or Kubernetes sends), it lets the
  call in flight finish, sends the run records it still holds, and exits 0 without a traceback.
  Ctrl-C used to end in a ``CancelledError`` traceback and status 1, and SIGTERM killed the process
  before the exporter's last batch left, losing the records of the last two seconds of calls."""

from __future__ import annotations

import signal
import socket
import subprocess

import anyio
import pytest
from mcp import Client

from telemetry.models import Run

from .conftest import GATEWAY, UPSTREAM, gateway_env, in_own_thread, start_http, stop

pytestmark = [pytest.mark.django_db(transaction=True)]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_failure(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([*argv, "--http", "0"], env=env, capture_output=True, text=True, timeout=90)  # noqa: S603
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def test_an_upstream_that_is_down_is_named(live_server, agent_key, gated_agent):
    down = f"http://127.0.0.1:{_closed_port()}/mcp"
    proc = _start_failure([*GATEWAY, "--upstream", down], gateway_env(live_server, agent_key))
    assert f"quorum-mcp: cannot start: upstream {down}: ConnectError: " in proc.stderr


def test_a_key_quorum_refuses_is_named(live_server, agent_key, gated_agent):
    upstream, upstream_url = start_http(UPSTREAM)
    try:
        env = {**gateway_env(live_server, agent_key), "QUORUM_AGENT_KEY": "qk_nope.not-a-key"}
        proc = _start_failure([*GATEWAY, "--upstream", upstream_url], env)
    finally:
        stop(upstream)
    expected = f"quorum-mcp: cannot start: Quorum at {live_server.url}: QuorumAPIError: HTTP 401: Invalid agent key."
    assert expected in proc.stderr


def test_a_quorum_it_cannot_reach_is_named(live_server, agent_key, gated_agent):
    upstream, upstream_url = start_http(UPSTREAM)
    try:
        nowhere = f"http://127.0.0.1:{_closed_port()}"
        env = {**gateway_env(live_server, agent_key), "QUORUM_URL": nowhere}
        proc = _start_failure([*GATEWAY, "--upstream", upstream_url], env)
    finally:
        stop(upstream)
    assert f"quorum-mcp: cannot start: Quorum at {nowhere}: QuorumUnavailable: " in proc.stderr


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_it_cleanly_and_keeps_the_last_records(sent, live_server, agent_key, gated_agent):
    upstream, upstream_url = start_http(UPSTREAM)
    try:
        env = gateway_env(live_server, agent_key)
        gateway, gateway_url = start_http([*GATEWAY, "--upstream", upstream_url], env=env, stderr=subprocess.PIPE)
        try:

            async def one_allowed_call():
                async with Client(gateway_url, cache=None) as client:
                    arguments = {"amount_usd": 40, "customer_tier": "pro", "order_id": "A-1001"}
                    result = await client.call_tool("payments.refund", arguments)
                    return result.is_error, result.content

            failed, content = in_own_thread(lambda: anyio.run(one_allowed_call))
            assert not failed, content
            # At once: the exporter sends a batch every 2 s, so this run is still in its queue.
            gateway.send_signal(sent)
            _out, stderr = gateway.communicate(timeout=60)
        finally:
            stop(gateway)
    finally:
        stop(upstream)
    assert gateway.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert Run.objects.filter(channel="mcp", tools_used=["payments.refund"]).count() == 1
