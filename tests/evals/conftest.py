"""Evals fixtures: a fake agent HTTP server on localhost and a golden set exercising it."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evals import services
from evals.models import EvalTarget
from tests.factories import AgentVersionFactory
from tests.loopback_targets import loopback_outbound_allowed  # noqa: F401 - the fake agent is on 127.0.0.1

SLOW_SECONDS = 3.0


class FakeAgent:
    """What the fake agent answers per case key; records every call it receives."""

    def __init__(self):
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.flaky_failures = 1

    def answer(self, key: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            self.calls.append({"key": key, "body": body})
        if key == "slow":
            time.sleep(SLOW_SECONDS)
            return 200, {"output": "too late"}
        if key == "flaky":
            with self.lock:
                if self.flaky_failures > 0:
                    self.flaky_failures -= 1
                    return 503, {"error": "warming up"}
            return 200, {"output": "Your refund is on its way", "cost_usd": "0.0030"}
        if key == "wrong":
            return 200, {"output": "I cannot help with that.", "cost_usd": "0.0010"}
        if key == "schema":
            return 200, {"output": {"total": 42, "currency": "USD"}, "cost_usd": "0.0020"}
        if key == "number":
            return 200, {"output": "3.1409", "cost_usd": "0.0005"}
        return 200, {"output": "Refund issued for order 1042", "cost_usd": "0.0010"}


@pytest.fixture
def fake_agent():
    behaviour = FakeAgent()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, payload = behaviour.answer(body.get("case", ""), body)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout case)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    behaviour.url = f"http://127.0.0.1:{server.server_address[1]}/eval"
    yield behaviour
    server.shutdown()
    server.server_close()


CASES = [
    ("refund", {"message": "refund order 1042"}, "contains", ["refund"], {}),
    ("schema", {"message": "total?"}, "json_schema", {"type": "object", "required": ["total", "currency"]}, {}),
    ("number", {"message": "pi?"}, "numeric", 3.1416, {"tolerance": 0.001}),
    ("flaky", {"message": "refund please"}, "contains", ["refund"], {}),
    ("slow", {"message": "take your time"}, "exact", "too late", {}),
    ("wrong", {"message": "refund?"}, "regex", r"(?i)refund", {}),
]
# refund, schema, number, flaky (after one retry) pass; slow times out; wrong fails its regex.
EXPECTED_PASSED = {"refund", "schema", "number", "flaky"}


@pytest.fixture
def eval_setup(agent, fake_agent, owner_user):
    """An agent version, its eval target (1 s timeout, one retry) and a six-case golden set."""
    agent.success_threshold_pct = Decimal("60")
    agent.save()
    version = AgentVersionFactory(agent=agent, label="2.0")
    EvalTarget.objects.create(
        agent=agent,
        endpoint_url=fake_agent.url,
        secret="s3cret",
        timeout_seconds=Decimal("1"),
        max_concurrency=3,
        max_retries=1,
        backoff_seconds=Decimal("0.05"),
    )
    golden_set = services.goldenset_create(agent=agent, name="Core", user=owner_user)
    set_version = golden_set.versions.get(number=1)
    for key, case_input, scorer, expected, options in CASES:
        services.case_save(
            set_version_id=set_version.pk, key=key, input=case_input, scorer=scorer, expected=expected, options=options
        )
    return {"agent": agent, "version": version, "set_version": set_version, "golden_set": golden_set}
