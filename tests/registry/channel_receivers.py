"""Local stand-ins for Slack, Microsoft Teams, PagerDuty and a Standard Webhooks receiver on
127.0.0.1: each checks a request the way the real service does (content type, schema, routing key,
signature) and answers as it would, so a wrong format fails the test at the receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PD_SEVERITIES = {"critical", "error", "warning", "info"}


def slack_check(path: str, headers: dict, body: dict) -> tuple[int, str]:
    """Slack incoming webhooks: JSON with a non-empty ``text`` (blocks optional, each with a type)."""
    if not isinstance(body.get("text"), str) or not body["text"]:
        return 400, "no_text"
    if any(not isinstance(b, dict) or "type" not in b for b in body.get("blocks", [])):
        return 400, "invalid_blocks"
    return 200, "ok"


def teams_check(path: str, headers: dict, body: dict) -> tuple[int, str]:
    """Teams webhooks (Workflows): a message whose attachments are Adaptive Cards."""
    attachments = body.get("attachments") or []
    if body.get("type") != "message" or not attachments:
        return 400, "Bad payload: not a message with attachments"
    for a in attachments:
        card = a.get("content") or {}
        if a.get("contentType") != "application/vnd.microsoft.card.adaptive" or card.get("type") != "AdaptiveCard":
            return 400, "Bad payload: attachment is not an Adaptive Card"
        if not card.get("version") or not isinstance(card.get("body"), list):
            return 400, "Bad payload: card without version or body"
    return 202, ""


def pagerduty_check(routing_key: str):
    """PagerDuty Events API v2 (/v2/enqueue): routing key, action, dedup key, and for a trigger a
    payload with summary, source and a known severity. Answers 202 with the dedup key."""

    def check(path: str, headers: dict, body: dict) -> tuple[int, str]:
        problems = []
        if path != "/v2/enqueue":
            return 404, "not found"
        if body.get("routing_key") != routing_key:
            problems.append("routing_key is invalid")
        if body.get("event_action") not in ("trigger", "acknowledge", "resolve"):
            problems.append("event_action is invalid")
        if body.get("event_action") != "trigger" and not body.get("dedup_key"):
            problems.append("dedup_key is required for acknowledge and resolve")
        if body.get("event_action") == "trigger":
            payload = body.get("payload") or {}
            for key in ("summary", "source", "severity"):
                if not payload.get(key):
                    problems.append(f"payload.{key} is missing")
            if payload.get("severity") and payload["severity"] not in PD_SEVERITIES:
                problems.append("payload.severity is invalid")
            if len(payload.get("summary", "")) > 1024:
                problems.append("payload.summary is too long")
        if problems:
            return 400, json.dumps(
                {"status": "invalid event", "message": "Event object is invalid", "errors": problems}
            )
        return 202, json.dumps({"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")})

    return check


def webhook_check(secret: str):
    """A Standard Webhooks receiver: verifies the signature (and timestamp) with the reference library."""

    def check(path: str, headers: dict, raw: bytes) -> tuple[int, str]:
        try:
            Webhook(secret).verify(raw, headers)
        except WebhookVerificationError as exc:
            return 401, str(exc)
        return 204, ""

    return check


class ServiceReceiver:
    """Records every call as (path, headers, parsed JSON, raw body, answer code). ``fail_first`` calls
    are answered 503 before the service check runs (a failing receiver)."""

    def __init__(self, check, *, fail_first: int = 0, raw: bool = False):
        self.calls: list[tuple[str, dict, dict | None, bytes, int]] = []
        self.fail_left = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                raw_body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers)
                parsed = None
                if receiver.fail_left > 0:
                    receiver.fail_left -= 1
                    code, text = 503, "unavailable"
                elif self.headers.get("Content-Type") != "application/json":
                    code, text = 415, "content type must be application/json"
                else:
                    try:
                        parsed = json.loads(raw_body)
                    except ValueError:
                        code, text = 400, "invalid JSON"
                    else:
                        code, text = check(self.path, headers, raw_body if raw else parsed)
                receiver.calls.append((self.path, headers, parsed, raw_body, code))
                self.send_response(code)
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[dict]:
        return [parsed for _, _, parsed, _, code in self.calls if code < 300]
