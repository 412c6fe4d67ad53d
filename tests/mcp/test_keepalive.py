"""The gateway keeps its HTTP connections to a streamable-HTTP upstream alive between calls
(``quorum_mcp.keepalive``, issue 17's overhead goal): a legacy MCP server answers every call with a
short event stream, and without draining it each call opened a new TCP connection. A body that
does not end is still closed, within the drain bound."""

from __future__ import annotations

import logging
import time
from contextlib import AsyncExitStack

import anyio
import anyio.abc
import pytest
from quorum_mcp import Upstream, keepalive

from .conftest import UPSTREAM, in_own_thread, start_http, stop

ARGS = {"amount_usd": 10, "customer_tier": "pro", "order_id": "A-1"}


class _Connects(logging.Handler):
    """Counts the TCP connections httpcore2 opens (its debug trace, not a stand-in for the socket)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("connect_tcp.complete"):
            self.count += 1


@pytest.fixture
def connects():
    logger = logging.getLogger("httpcore2.connection")
    handler, level = _Connects(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_calls_to_an_http_upstream_reuse_one_connection(connects):
    upstream, url = start_http(UPSTREAM)
    try:

        async def main() -> list[str]:
            async with AsyncExitStack() as stack:
                client = await Upstream.parse(url).open(stack, None)
                await client.call_tool("payments.refund", ARGS)  # the session's own connections
                before = connects.count
                texts = []
                for _ in range(10):
                    texts.append((await client.call_tool("payments.refund", ARGS)).content[0].text)
                    # The last bytes of an answer are read just after the caller has it: a call sent
                    # at once may find the connection still busy and open another (rare, harmless).
                    await anyio.sleep(0.05)
                return [*texts, str(connects.count - before)]

        *texts, opened = in_own_thread(lambda: anyio.run(main))
    finally:
        stop(upstream)
    assert texts == ["refunded 10 USD on order A-1"] * 10
    # One each before the keep-alive fix; the session's GET stream may reconnect once.
    assert int(opened) <= 1, f"{opened} new TCP connections for 10 calls"


def test_a_body_that_does_not_end_is_closed_within_the_drain_bound(monkeypatch):
    """A server that answers an event stream and never ends it: the close gives up after
    ``DRAIN_SECONDS`` (the connection is dropped, not kept), it does not hang."""
    monkeypatch.setattr(keepalive, "DRAIN_SECONDS", 0.3)

    async def endless(stream) -> None:
        await stream.receive()
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            b"f\r\ndata: hello\r\n\r\n\r\n"
        )
        await anyio.sleep(30)

    async def main() -> tuple[bytes, float]:
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            async with anyio.create_task_group() as group:
                group.start_soon(listener.serve, endless)
                async with keepalive.upstream_http_client() as http:
                    response = await http.send(http.build_request("POST", f"http://127.0.0.1:{port}/"), stream=True)
                    first = await response.aiter_raw().__anext__()
                    started = time.monotonic()
                    await response.aclose()
                    took = time.monotonic() - started
                group.cancel_scope.cancel()
        return first, took

    first, took = in_own_thread(lambda: anyio.run(main))
    assert first == b"data: hello\r\n\r\n"
    assert 0.25 <= took < 2.0, took
