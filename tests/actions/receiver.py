"""A tiny webhook receiver on 127.0.0.1 for tests: records every call, answers scripted codes."""

from __future__ import annotations

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, codes=(200,)):
        self.calls: list[tuple[dict, bytes]] = []
        self.codes = list(codes)
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                code = receiver.codes.pop(0) if len(receiver.codes) > 1 else receiver.codes[0]
                receiver.calls.append((dict(self.headers), body))
                self.send_response(code)
                self.end_headers()
                if code < 300:
                    receiver.got.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def signed_correctly(self, index: int, secret: str) -> bool:
        headers, body = self.calls[index]
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("X-Quorum-Signature", ""), expected)
