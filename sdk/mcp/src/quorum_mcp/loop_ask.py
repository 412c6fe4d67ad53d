"""The gate's ask, sent from the gateway's event loop: the fast path of an allowed call.

Every ``tools/call`` asks Quorum's action gate first. Through the SDK that ask is a synchronous
httpx request, so the gateway ran it in a worker thread: measured interleaved against the same
Quorum (1 Dec 2026, load 3.7-4.2, 3 rounds x 200 asks), the SDK in the thread took 17.1-23.9 ms p50
and 2.0-2.7 ms of CPU per ask, a plain ``http.client`` request 15.8-20.6 ms and 0.6-0.9 ms, this
module's request on the loop 14.5-20.0 ms and 0.4-0.5 ms (httpx's request and response models
and the thread hop are the difference; an earlier try with ``httpx.AsyncClient`` on the loop cost
more loop CPU than the thread hop it saved).

So the first ask goes out here: one HTTP/1.1 request on a kept-alive connection, the body the SDK
would send (:func:`quorum_sdk.action_request_body`) with the same headers. Only an ``allowed``
answer is taken from here. Anything else (pending, denied, an error status, a broken
connection, a timeout, an answer this small parser does not read) hands the call to the SDK's own
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

from quorum_sdk import QuorumClient
from quorum_sdk.client import ACTION_REQUESTS_PATH, VERSION, action_request_body

__all__ = ["LoopAsk"]

log = logging.getLogger("quorum_mcp")

MAX_IDLE_CONNECTIONS = 4
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024


class _Unread(Exception):
    """An answer this client does not read (the SDK's path asks again)."""


# What ends the fast path quietly (the SDK's path then asks): the network, the clock, the parser.
# ValueError: a status or Content-Length that is not a number (a proxy's page, a broken answer).
_NOT_READ = (
    OSError, EOFError, TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _Unread,
)  # fmt: skip


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used = False

    def usable(self) -> bool:
        # The server closes idle keep-alive connections (gunicorn: after 5 s); that EOF is seen here.
        return not (self.reader.at_eof() or self.writer.is_closing())

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
        self._head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {netloc}\r\nAuthorization: Bearer {quorum.api_key}\r\n"
            f"User-Agent: quorum-sdk-python/{VERSION} quorum-mcp\r\nAccept: application/json\r\n"
            "Content-Type: application/json\r\n"
        )
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
        request = (
            f"{self._head}Idempotency-Key: {idempotency_key}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
        try:
            async with asyncio.timeout(self.quorum.timeout):
                status, answer = await self._send(request)
        except _NOT_READ as exc:
            log.debug("quorum-mcp: ask for %s not read on the loop (%r); the SDK asks", tool, exc)
            return None
        if status in (200, 201) and isinstance(answer, dict) and answer.get("status") == "allowed":
            return answer
        return None

    async def _send(self, request: bytes) -> tuple[int, Any]:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                break
            conn.close()
        else:
            conn = await self._connect()
        try:
            try:
                conn.writer.write(request)
                status, keep, body = await self._read(conn.reader)
            except (OSError, EOFError, asyncio.IncompleteReadError):
                if not conn.used:
                    raise
                # A kept connection the server closed meanwhile: once more on a new one (safe: the
                # idempotency key makes a request that did arrive answer the same stored request).
                conn.close()
                conn = await self._connect()
                conn.writer.write(request)
                status, keep, body = await self._read(conn.reader)
        except BaseException:
            conn.close()
            raise
        if keep and len(self._idle) < MAX_IDLE_CONNECTIONS:
            conn.used = True
            self._idle.append(conn)
        else:
            conn.close()
        try:
            return status, json.loads(body)
        except ValueError as exc:
            raise _Unread("not JSON") from exc

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None, limit=MAX_HEAD_BYTES
        )
        return _Connection(reader, writer)

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
        """One response: status, whether the connection may be kept, the body. Reads a
        ``Content-Length`` body only (Quorum's answers); anything else is :class:`_Unread`."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise _Unread(lines[0][:40])
        status = int(rest[:3])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip().lower()
        if "transfer-encoding" in headers or "content-length" not in headers:
            raise _Unread("no Content-Length")
        length = int(headers["content-length"])
        if length > MAX_BODY_BYTES:
            raise _Unread("too long")
        body = await reader.readexactly(length)
        connection = headers.get("connection", "")
        keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
        return status, keep, body

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
