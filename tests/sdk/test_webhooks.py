"""Standard Webhooks: Quorum signs its action webhooks per the specification (its published test
vector), and the SDK verifies them: a valid delivery wakes a waiting gate at once; a forged one,
a replayed id and a stale timestamp are refused."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import decide_when_pending

# The specification's own test vector (standardwebhooks.com, shared by its libraries' tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_quorum_signs_like_the_specifications_test_vector():
    from actions.services import webhook_standard_headers

    headers = webhook_standard_headers(
        SPEC_SECRET, SPEC_ID, SPEC_BODY, sent_at=datetime.fromtimestamp(SPEC_TIMESTAMP, UTC)
    )
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_the_verifier_refuses_forged_replayed_stale_and_incomplete_messages():
    from quorum_sdk import WebhookVerificationError, WebhookVerifier

    from actions.services import webhook_secret_new, webhook_standard_headers

    secret = webhook_secret_new()
    body = b'{"event": "action_request.decided", "action_request": {"id": "a-1", "status": "approved"}}'
    headers = webhook_standard_headers(secret, "a-1", body)
    verifier = WebhookVerifier(secret)
    assert verifier.verify(body, headers)["action_request"]["status"] == "approved"

    def refused(why, data, sent, against=verifier):
        with pytest.raises(WebhookVerificationError, match=why):
            against.verify(data, sent)

    refused("replay", body, headers)  # the same message again
    refused("signature", body.replace(b"approved", b"denied"), webhook_standard_headers(secret, "a-2", body))
    refused("signature", body, webhook_standard_headers(webhook_secret_new(), "a-3", body))  # another secret
    refused("signature", body, {**webhook_standard_headers(secret, "a-4", body), "webhook-signature": "v1,AAAA"})
    refused("signature", body, {**webhook_standard_headers(secret, "a-5", body), "webhook-signature": "garbage"})
    stale = webhook_standard_headers(secret, "a-6", body, sent_at=datetime.now(UTC) - timedelta(minutes=10))
    refused("stale", body, stale)
    refused("missing", body, {"webhook-id": "a-7"})
    refused("Unix time", body, {**webhook_standard_headers(secret, "a-8", body), "webhook-timestamp": "soon"})
    # A tolerance is the receiver's choice: 10 minutes old passes a 15-minute window.
    assert WebhookVerifier(secret, tolerance=900).verify(body, stale)
    with pytest.raises(ValueError, match="whsec_"):
        WebhookVerifier("whsec_not base64!")


class AgentEndpoint:
    """The agent's own webhook endpoint on 127.0.0.1: hands each delivery to the SDK's inbox."""

    def __init__(self, inbox):
        self.deliveries: list[tuple[dict, bytes, int]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, _ = inbox.receive(body, dict(self.headers))
                endpoint.deliveries.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/quorum-webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.django_db(transaction=True)
def test_the_webhook_wakes_a_waiting_gate_and_is_verified(live_server, agent, agent_key, gate_ready):
    """GIVEN the agent's webhook points at its endpoint WHEN two support managers approve a pending
    refund THEN Quorum's signed delivery wakes the gate long before its next poll; the same
    delivery again is refused as a replay, and the legacy header is still sent."""
    from quorum_sdk import QuorumClient, WebhookInbox, WebhookVerificationError, WebhookVerifier

    from actions.services import gate_settings_update, webhook_signature
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the delivery task runs as the decision commits
    endpoint = None
    try:
        settings = gate_settings_update(agent=agent, webhook_url="http://127.0.0.1:1/placeholder")
        inbox = WebhookInbox(WebhookVerifier(settings.webhook_standard_secret))
        endpoint = AgentEndpoint(inbox)
        gate_settings_update(agent=agent, webhook_url=endpoint.url)
        decide_when_pending(agent, gate_ready)
        with QuorumClient(live_server.url, agent_key, webhook_inbox=inbox) as client:
            started = time.monotonic()
            gate = client.gate(
                "payments.refund", amount_usd=120, customer_tier="standard", wait_timeout=30, poll_initial=25
            )
            with gate as action:
                assert action["status"] == "approved"
            assert time.monotonic() - started < 20  # woken by the webhook, not the 25 s poll
    finally:
        app.conf.task_always_eager = eager
        if endpoint is not None:
            endpoint.close()

    [(headers, body, status)] = endpoint.deliveries
    assert status == 204
    assert json.loads(body)["action_request"]["id"] == action["id"] == headers["webhook-id"]
    assert headers["X-Quorum-Signature"] == webhook_signature(settings.webhook_secret, body)  # legacy, one release
    with pytest.raises(WebhookVerificationError, match="replay"):
        inbox.verifier.verify(body, headers)
    assert inbox.receive(body.replace(b"approved", b"denied"), headers)[0] == 400  # forged
