"""The gate's ask, sent from the gateway's event loop: the fast path of an allowed call.

Every ``tools/call`` asks Quorum's action gate first. Through the SDK that ask is a synchronous
httpx request, so the gateway ran it in a worker thread: measured interleaved against the same
Quorum (1 Dec 2026, load 3.7-4.2, 3 rounds x 200 asks), the SDK in the thread took 17.1-23.9 ms p50
and 2.0-2.7 ms of CPU per ask, a plain ``http.client`` request 15.8-20.6 ms and 0.6-0.9 ms, this
module's request on the loop 14.5-20.0 ms and 0.4-0.5 ms (httpx's request and response models
and the thread hop are the difference; an earlier try with ``httpx.AsyncClient`` on the loop cost
more loop CPU than the thread hop it saved).

So the first ask goes out here: one HTTP/1.1 request on a kept-alive connection, the body the SDK
would send (:func:`quorum_sdk.action_request_body`) with the same headers, framed and read by h11
(the sans-IO HTTP/1.1 library under httpx: message framing, ``Connection: close``, HTTP/1.0, chunked
bodies, malformed heads), over an asyncio stream. h11 replaced a hand-written parser, and tested
framing has a price (1 Dec 2026): ~0.1 ms more CPU per ask in process against a fake Quorum sending
Quorum's real answer (51 -> 155 us, that server's share included; bytes headers save 3-7 us, not
worth it), and in the bench (``bench/mcp_gateway.py``, load 2.5-3.2, two runs each, old and new
alternating) the loop's CPU per ask went 0.30/0.31 -> 0.61/0.47 ms: h11 validates each of the
answer's 15 headers with a regular expression. Only an ``allowed`` answer is taken from here.
Anything else (pending, denied, an error status, a broken connection, a timeout, an answer h11
refuses or this module does not read) hands the call to the SDK's own
gate with the **same idempotency key**: Quorum answers a replayed key with the request it stored,
so the SDK's path (retries with backoff, ``Retry-After``, waiting for people, the errors it
raises) decides exactly as before, and nothing is asked twice as a new request. A client built
with its own transport, or a URL an environment proxy applies to, is never bypassed: the SDK's
path then serves every call."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import h11
from quorum_sdk import QuorumClient
from quorum_sdk.client import ACTION_REQUESTS_PATH, VERSION, action_request_body

__all__ = ["LoopAsk"]

log = logging.getLogger("quorum_mcp")

MAX_IDLE_CONNECTIONS = 4
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
READ_BYTES = 64 * 1024


class _Unread(Exception):
    """An answer this client does not read (the SDK's path asks again)."""


# What ends the fast path quietly (the SDK's path then asks): the network, the clock, the parser
# (h11.ProtocolError: a status or Content-Length that is not a number, a head too long, a proxy's page).
_NOT_READ = (OSError, EOFError, TimeoutError, h11.ProtocolError, _Unread)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.used = False

    def usable(self) -> bool:
        # The server closes idle keep-alive connections (gunicorn: after 5 s); that EOF is seen here.
        return not (self.reader.at_eof() or self.writer.is_closing())

    async def exchange(self, request: h11.Request, body: bytes) -> tuple[int, bytes]:
        """Send one request and read its answer: the status and the body."""
        http = self.http
        self.writer.write(http.send(request) + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage()))
        status, chunks, size, received = 0, [], 0, False
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(READ_BYTES)
                if not data and not received:
                    # Closed before any byte of the answer: a kept connection the server closed.
                    raise EOFError("closed before the answer")
                received = True
                http.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY_BYTES:
                    raise _Unread("too long")
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return status, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise EOFError("closed during the answer")
            # h11.InformationalResponse (1xx): the final answer follows.

    def next_cycle(self) -> bool:
        """Ready the connection for another exchange; ``False`` when it must be closed (h11 saw
        ``Connection: close``, HTTP/1.0, or an answer that ends with the connection)."""
        if self.http.our_state is h11.DONE and self.http.their_state is h11.DONE:
            self.http.start_next_cycle()
            return True
        return False

    def close(self) -> None:
        self.writer.close()


class LoopAsk:
    """Sends the gate's ask for ``quorum``'s agent from the running asyncio loop; see the module."""

    def __init__(self, quorum: QuorumClient) -> None:
        self.quorum = quorum
        url = urlsplit(quorum.base_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.path = f"{url.path.rstrip('/')}{ACTION_REQUESTS_PATH}"
        self.ssl: ssl.SSLContext | None = _tls_context() if url.scheme == "https" else None
        self.enabled = (
            url.scheme in {"http", "https"} and quorum.transport is None and not _proxied(url.scheme, self.host)
        )
        netloc = url.netloc.rsplit("@", 1)[-1]
        self._headers = [
            ("Host", netloc),
            ("Authorization", f"Bearer {quorum.api_key}"),
            ("User-Agent", f"quorum-sdk-python/{VERSION} quorum-mcp"),
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
        ]
        self._idle: list[_Connection] = []

    async def allowed(self, tool: str, parameters: Mapping[str, Any], idempotency_key: str) -> dict[str, Any] | None:
        """The stored request when the gate answered ``allowed`` at once; ``None`` for every other
        outcome (the caller then runs the SDK's gate with the same ``idempotency_key``)."""
        if not self.enabled:
            return None
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # another anyio backend (trio): the SDK's path serves
            return None
        body = json.dumps(action_request_body(tool, parameters, idempotency_key=idempotency_key)).encode()
        headers = [*self._headers, ("Idempotency-Key", idempotency_key), ("Content-Length", str(len(body)))]
        request = h11.Request(method="POST", target=self.path, headers=headers)
        try:
            async with asyncio.timeout(self.quorum.timeout):
                status, answer = await self._send(request, body)
        except _NOT_READ as exc:
            log.debug("quorum-mcp: ask for %s not read on the loop (%r); the SDK asks", tool, exc)
            return None
        if status in (200, 201) and isinstance(answer, dict) and answer.get("status") == "allowed":
            return answer
        return None

    async def _send(self, request: h11.Request, body: bytes) -> tuple[int, Any]:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                break
            conn.close()
        else:
            conn = await self._connect()
        try:
            try:
                status, data = await conn.exchange(request, body)
            except (OSError, EOFError):
                if not conn.used:
                    raise
                # A kept connection the server closed meanwhile: once more on a new one (safe: the
                # idempotency key makes a request that did arrive answer the same stored request).
                conn.close()
                conn = await self._connect()
                status, data = await conn.exchange(request, body)
        except BaseException:
            conn.close()
            raise
        if conn.next_cycle() and len(self._idle) < MAX_IDLE_CONNECTIONS:
            conn.used = True
            self._idle.append(conn)
        else:
            conn.close()
        try:
            return status, json.loads(data)
        except ValueError as exc:
            raise _Unread("not JSON") from exc

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None
        )
        return _Connection(reader, writer)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


def _tls_context() -> ssl.SSLContext:
    """The certificates httpx (the SDK's client) trusts: certifi's bundle where installed."""
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _proxied(scheme: str, host: str) -> bool:
    """Would httpx send this URL through a proxy from the environment (``HTTP(S)_PROXY``)?"""
    proxies = urllib.request.getproxies()
    return bool(proxies.get(scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(host)
