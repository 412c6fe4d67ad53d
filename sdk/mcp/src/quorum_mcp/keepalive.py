"""Keep-alive connections to streamable-HTTP upstreams.

A legacy (handshake-era) MCP server answers each request POST with a short ``text/event-stream``
body: the response event, then the end of the stream. The ``mcp`` client stops reading as soon as
it has the response event and closes the body; httpx2 then finds the HTTP/1.1 exchange unfinished
(the body's last chunk still unread) and closes the TCP connection, so every ``tools/call`` to the
upstream paid a new connection (on loopback, ~1–3 ms of the gateway's added time). Here the body
is read to its end before it is closed, which returns the connection to the pool. The caller
already has its answer by then (the client hands the response on before closing the body), so the
draining is off the call's path. A body that does not end soon (a server keeping the stream open)
is closed after ``DRAIN_SECONDS`` or ``DRAIN_BYTES``, as before: that connection is then dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx2

__all__ = ["DRAIN_BYTES", "DRAIN_SECONDS", "KeepAliveTransport", "upstream_http_client"]

DRAIN_SECONDS = 1.0
DRAIN_BYTES = 64 * 1024

# The mcp package's defaults for its own client (mcp.shared._httpx_utils): 30 s, but 5 minutes to
# read, because an upstream may hold a response stream open while a tool runs.
CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 300.0


class _DrainOnClose(httpx2.AsyncByteStream):
    """A response body that, closed before its end, reads the rest (bounded) before closing."""

    def __init__(self, inner: httpx2.AsyncByteStream) -> None:
        self._inner = inner
        self._chunks: AsyncIterator[bytes] | None = None
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # One iterator for both the reader and the drain: the drain continues where it stopped.
        self._chunks = self._inner.__aiter__()
        async for chunk in self._chunks:
            yield chunk
        self._finished = True

    async def aclose(self) -> None:
        try:
            if self._chunks is not None and not self._finished:
                with anyio.move_on_after(DRAIN_SECONDS):
                    read = 0
                    async for chunk in self._chunks:
                        read += len(chunk)
                        if read > DRAIN_BYTES:
                            break
        except Exception:  # noqa: BLE001, S110 - a broken body only means the connection is not kept
            pass
        finally:
            # Shielded: a cancelled drain must still release the connection (closing it if unfinished).
            with anyio.CancelScope(shield=True):
                await self._inner.aclose()


class KeepAliveTransport(httpx2.AsyncBaseTransport):
    """httpx2's own transport, with every POST's event-stream body drained on close (see above).
    Only POSTs: the long-lived GET stream of server notifications is closed at once, as before."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        if request.method == "POST" and response.headers.get("content-type", "").startswith("text/event-stream"):
            response.stream = _DrainOnClose(response.stream)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def upstream_http_client() -> httpx2.AsyncClient:
    """The HTTP client for one streamable-HTTP upstream (enter it as a context manager)."""
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(CONNECT_TIMEOUT, read=READ_TIMEOUT), transport=KeepAliveTransport()
    )
