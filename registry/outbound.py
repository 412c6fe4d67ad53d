"""Every server-side request to a URL a user gave (webhooks, eval targets, the LLM judge, any later
notification channel) goes through :func:`guarded_client`, and every such URL is checked by
:func:`validate_outbound_url` when it is saved.

The rule: Quorum does not call internal addresses. A URL whose host is, or resolves to, a
loopback, private, link-local, multicast, unspecified, reserved or otherwise not globally
routable address is refused, IPv4 addresses inside IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo,
NAT64) included. An operator may permit named internal hosts with the
``QUORUM_OUTBOUND_ALLOWED_HOSTS`` setting (exact host names or IP literals, as written in URLs).

The check runs twice:

* **when the URL is saved** (form, admin, service): a clear field error. A name that does not
  resolve yet is accepted, since the agent may not be deployed; the send-time check still holds.
* **when the connection is made**: the client's network backend resolves the host, refuses the
  connection if *any* answer is internal, and connects to the address it checked (the Host header
  and TLS SNI still carry the name). A DNS answer that changes between the save and the send
  (rebinding) therefore meets the same check. Redirects are not followed, and were a caller to ask
  for them every hop opens a new connection through the same check.

Responses are capped in size (``QUORUM_OUTBOUND_MAX_RESPONSE_BYTES``) and in total time: the
caller's read timeout bounds the whole body, not each chunk, up to ``QUORUM_OUTBOUND_MAX_SECONDS``.

Address classes come from the standard library's :mod:`ipaddress` (the IANA special-purpose
registries, maintained with Python), not from hand-written ranges."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# 64:ff9b::/96 translates to IPv4 (RFC 6052); ipaddress calls it global, the IPv4 inside decides.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
DEFAULT_MAX_SECONDS = 600.0
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class OutboundError(httpx.RequestError):
    """A request the guard stopped. Not an ``httpx.TransportError``: retrying cannot help."""


class OutboundRefused(OutboundError):
    """The URL's host is, or resolves to, an address Quorum does not call."""


class OutboundLimitExceeded(OutboundError):
    """The response was larger or slower than the guard allows."""


def address_refusal(ip: IPAddress) -> str | None:
    """Why Quorum does not call ``ip`` ("loopback", "private", …), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            # The IPv4 address inside is where the connection goes: it decides.
            reason = address_refusal(embedded)
            return f"{reason} (an IPv4 address inside IPv6)" if reason else None
        if ip.is_site_local:
            return "site-local"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    )
    return next((label for label, hit in checks if hit), None)


def allowed_hosts() -> frozenset[str]:
    return frozenset(_normal_host(h) for h in getattr(settings, "QUORUM_OUTBOUND_ALLOWED_HOSTS", ()) or ())


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself); raises ``OSError``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # Drop an IPv6 scope ("fe80::1%eth0") before parsing; the address class is what counts.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def host_refusal(host: str, addresses: Iterable[IPAddress]) -> str | None:
    """The message refusing ``host`` if any of its addresses is internal, else None."""
    for ip in addresses:
        if reason := address_refusal(ip):
            shown = host if host == str(ip) else f"{host} resolves to {ip}, which"
            return (
                f"{shown} is a {reason} address; Quorum does not call internal addresses "
                "(an operator can permit a named host with QUORUM_OUTBOUND_ALLOWED_HOSTS)."
            )
    return None


def validate_outbound_url(value: str) -> None:
    """Field validator: refuse a URL Quorum would not call (see the module docstring)."""
    if not value:
        return
    try:
        parts = urlsplit(value)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError("Enter a valid URL.", code="invalid") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError("Use an http(s) URL.", code="scheme")
    host = _normal_host(parts.hostname or "")
    if not host:
        raise ValidationError("The URL has no host.", code="invalid")
    if host in allowed_hosts():
        return
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        return  # does not resolve (yet): refused at send time if it then resolves inside
    if message := host_refusal(host, addresses):
        raise ValidationError(message, code="internal_address")


class GuardedNetworkBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses it has checked."""

    def connect_tcp(self, host: str, port: int, timeout=None, local_address=None, socket_options=None):
        name = _normal_host(host)
        if name in allowed_hosts():
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = resolve(name, port)
        except (OSError, UnicodeError, ValueError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if message := host_refusal(name, addresses):
            raise OutboundRefused(message)
        last_error: Exception | None = None
        for ip in addresses:
            try:
                # The checked address, not the name: a second lookup could answer differently.
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"no address for {host}")


class CappedStream(httpx.SyncByteStream):
    """A response body that stops at ``max_bytes`` and at ``deadline`` (monotonic seconds)."""

    def __init__(self, stream: httpx.SyncByteStream, *, max_bytes: int, deadline: float):
        self._stream, self._max_bytes, self._deadline = stream, max_bytes, deadline

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._stream:
            received += len(chunk)
            if received > self._max_bytes:
                raise OutboundLimitExceeded(f"response larger than {self._max_bytes} bytes")
            if time.monotonic() > self._deadline:
                raise OutboundLimitExceeded("response took longer than its timeout")
            yield chunk

    def close(self) -> None:
        self._stream.close()


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport on :class:`GuardedNetworkBackend`, with capped responses."""

    def __init__(self, *, max_bytes: int, max_seconds: float, limits: httpx.Limits = DEFAULT_LIMITS):
        super().__init__(limits=limits, trust_env=False)
        self._max_bytes, self._max_seconds = max_bytes, max_seconds
        # httpx does not expose httpcore's network_backend; the pool is rebuilt with it, with
        # the settings httpx gave it (same SSL context, so certificates are verified as usual).
        self._pool = httpcore.ConnectionPool(
            ssl_context=self._pool._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        response = super().handle_request(request)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            response.close()
            raise OutboundLimitExceeded(f"response larger than {self._max_bytes} bytes", request=request)
        read_timeout = (request.extensions.get("timeout") or {}).get("read") or self._max_seconds
        deadline = started + min(float(read_timeout), self._max_seconds)
        response.stream = CappedStream(response.stream, max_bytes=self._max_bytes, deadline=deadline)
        return response


def guarded_client(
    *, timeout: float = 30.0, limits: httpx.Limits | None = None, max_bytes: int | None = None
) -> httpx.Client:
    """The one HTTP client for user-supplied URLs: refuses internal addresses at connection time,
    follows no redirect, ignores proxy environment variables (a proxy would make the connection
    for us, unchecked) and caps each response's size and time."""
    max_bytes = max_bytes or int(getattr(settings, "QUORUM_OUTBOUND_MAX_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES))
    max_seconds = float(getattr(settings, "QUORUM_OUTBOUND_MAX_SECONDS", DEFAULT_MAX_SECONDS))
    transport = GuardedTransport(max_bytes=max_bytes, max_seconds=max_seconds, limits=limits or DEFAULT_LIMITS)
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
