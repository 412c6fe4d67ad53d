"""Issue 14 item 1: no server-side request reaches an internal address.

Every address class is refused when a URL is saved (webhook form, eval target form, the models'
validation the admin uses, the services) and when a request is sent (the guarded client, the
webhook delivery, an eval run). A name resolving to 127.0.0.1 (``localhost``) is refused at send;
a host on ``QUORUM_OUTBOUND_ALLOWED_HOSTS`` passes. The servers here listen on 127.0.0.1 and must
receive nothing they were not allowed to."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.core.exceptions import ValidationError

from registry.outbound import (
    OutboundLimitExceeded,
    OutboundRefused,
    address_refusal,
    guarded_client,
    validate_outbound_url,
)

# One address per class the guard refuses, as a URL host; and the class it names.
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.5.6.7", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - the address under test
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not globally routable"),
    ("[::1]", "loopback"),
    ("[::]", "unspecified"),
    ("[fe80::1]", "link-local"),
    ("[fc00::1]", "private"),
    ("[ff02::1]", "multicast"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("[::ffff:10.0.0.1]", "private"),
    ("[::ffff:169.254.169.254]", "link-local"),
    ("[2002:7f00:1::]", "loopback"),  # 6to4 around 127.0.0.1
    ("[64:ff9b::a00:1]", "private"),  # NAT64 around 10.0.0.1
]


class Server:
    """A real HTTP server on 127.0.0.1 that counts the requests it gets."""

    def __init__(self, body: bytes = b'{"output": "ok"}', redirect_to: str | None = None, drip: float = 0):
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                server.hits += 1
                length = int(self.headers.get("Content-Length", 0))
                if length:
                    self.rfile.read(length)
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()  # no Content-Length: the cap must hold while streaming
                if drip:  # one byte at a time, each in time for the read timeout, forever
                    for _ in range(int(10 / drip)):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(drip)
                self.wfile.write(body)
                self.close_connection = True

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _nothing_allowed(settings):
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = []


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_it_names_the_class_of_every_internal_address(host, reason):
    import ipaddress

    assert address_refusal(ipaddress.ip_address(host.strip("[]"))).startswith(reason)


def test_public_addresses_pass():
    import ipaddress

    for host in ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]:
        assert address_refusal(ipaddress.ip_address(host)) is None, host


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_each_address_class_is_refused_at_save(host, reason):
    with pytest.raises(ValidationError) as refused:
        validate_outbound_url(f"http://{host}:8080/hook")
    assert reason in refused.value.messages[0] and "QUORUM_OUTBOUND_ALLOWED_HOSTS" in refused.value.messages[0]


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_each_address_class_is_refused_at_send(host, reason):
    with guarded_client(timeout=2) as client, pytest.raises(OutboundRefused, match=reason):
        client.post(f"http://{host}:9/hook", content=b"{}")


def test_a_name_resolving_to_loopback_is_refused_at_save_and_at_send(server):
    with pytest.raises(ValidationError, match="localhost resolves to"):
        validate_outbound_url(f"http://localhost:{server.port}/hook")
    with guarded_client(timeout=2) as client, pytest.raises(OutboundRefused, match="loopback"):
        client.post(f"http://localhost:{server.port}/hook", content=b"{}")
    assert server.hits == 0


def test_an_allowed_host_passes(server, settings):
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = ["LocalHost"]
    validate_outbound_url(f"http://localhost:{server.port}/hook")
    with guarded_client(timeout=2) as client:
        assert client.post(f"http://localhost:{server.port}/hook", content=b"{}").json() == {"output": "ok"}
    assert server.hits == 1
    # Only the name on the list: the same server by its address is still refused.
    with guarded_client(timeout=2) as client, pytest.raises(OutboundRefused):
        client.post(f"http://127.0.0.1:{server.port}/hook", content=b"{}")
    assert server.hits == 1


def test_redirects_are_not_followed_and_each_hop_is_checked(settings, server):
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    hop = Server(redirect_to=f"http://localhost:{server.port}/internal")
    try:
        with guarded_client(timeout=2) as client:
            response = client.post(f"http://127.0.0.1:{hop.port}/hook", content=b"{}")
            assert response.status_code == 302  # answered, not followed
            with pytest.raises(OutboundRefused):
                client.get(f"http://127.0.0.1:{hop.port}/hook", follow_redirects=True)
    finally:
        hop.close()
    assert server.hits == 0


def test_responses_are_capped_in_size(settings):
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    big = Server(body=b"x" * (2 * 1024 * 1024))
    try:
        with guarded_client(timeout=5) as client, pytest.raises(OutboundLimitExceeded, match="larger than"):
            client.post(f"http://127.0.0.1:{big.port}/", content=b"{}")
    finally:
        big.close()


def test_responses_are_capped_in_total_time_not_just_per_read(settings):
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    slow = Server(drip=0.2)
    started = time.monotonic()
    try:
        with guarded_client(timeout=1) as client, pytest.raises(OutboundLimitExceeded, match="longer than"):
            client.post(f"http://127.0.0.1:{slow.port}/", content=b"{}")
    finally:
        slow.close()
    assert time.monotonic() - started < 3


def test_non_http_schemes_and_hostless_urls_are_refused_at_save():
    for url in ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "http:///path"]:
        with pytest.raises(ValidationError):
            validate_outbound_url(url)


def test_the_guard_is_not_a_retryable_transport_error():
    # Celery retries httpx.TransportError for webhooks; a refused address must not be retried.
    assert not issubclass(OutboundRefused, httpx.TransportError)
    assert issubclass(OutboundRefused, httpx.HTTPError)  # the judge treats it as "no verdict"
