"""A tiny loopback HTTP proxy in front of the live server, for the SDK's tests: it answers
scripted statuses first (503 / 429 with ``Retry-After``, the way a loaded Quorum or its load
balancer does), then forwards to the server, and records every request it saw. ``down()``
closes it, so the client meets a refused connection, as when Quorum is unreachable."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


class Seen:
    def __init__(self, method: str, path: str, headers: dict, status: int, at: float):
        self.method, self.path, self.headers, self.status, self.at = method, path, headers, status, at


class Proxy:
    def __init__(self, upstream: str, script: list[tuple[int, dict]] | None = None):
        self.upstream = upstream.rstrip("/")
        self.script = list(script or [])
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                if not proxy._running:  # down: a kept-alive connection is cut, nothing answered
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                with proxy._lock:
                    scripted = proxy.script.pop(0) if proxy.script else None
                if scripted is not None:
                    status, headers = scripted
                    proxy._record(self, status)
                    payload = b'{"errors": [{"code": "unavailable", "field": null, "message": "try later"}]}'
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    sent = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    answer = httpx.request(
                        self.command, proxy.upstream + self.path, headers=sent, content=body, timeout=30
                    )
                    status = answer.status_code
                    proxy._record(self, status)
                    self.send_response(status)
                    for name, value in answer.headers.items():
                        if name.lower() not in HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)

            do_GET = do_POST = _handle  # noqa: N815 - http.server API

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._running = False

    def _record(self, handler, status: int) -> None:
        # Before the answer is written: the client may look at ``seen`` as soon as it has it.
        with self._lock:
            self.seen.append(Seen(handler.command, handler.path, dict(handler.headers), status, time.monotonic()))

    def __enter__(self) -> Proxy:
        self._thread.start()
        self._running = True
        return self

    def down(self) -> None:
        if self._running:
            self._running = False
            self.server.shutdown()
            self.server.server_close()

    def __exit__(self, *exc) -> None:
        self.down()

    def statuses(self, path_prefix: str = "") -> list[int]:
        return [s.status for s in self.seen if s.path.startswith(path_prefix)]
