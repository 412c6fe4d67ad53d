"""Verify Quorum's action webhooks (Standard Webhooks, https://www.standardwebhooks.com).

Quorum signs each delivery with three headers: ``webhook-id`` (the action request's id, the
same on every redelivery), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed with the ``whsec_`` secret shown on
the agent card). The signature is checked by the ``standardwebhooks`` package; this module
adds what it leaves to the receiver: a configurable tolerance and refusing a replayed id.

::

    verifier = WebhookVerifier(os.environ["QUORUM_WEBHOOK_SECRET"])
    event = verifier.verify(request.body, request.headers)   # raises WebhookVerificationError
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from .errors import WebhookVerificationError

__all__ = ["WebhookInbox", "WebhookVerifier"]


class WebhookVerifier:
    """Checks signature, timestamp (± ``tolerance`` seconds) and that the ``webhook-id`` was
    not accepted before (remembered for twice the tolerance, at most ``max_remembered`` ids).

    A replay within the tolerance is refused by the id; an older one by its timestamp."""

    def __init__(self, secret: str, *, tolerance: float = 300.0, max_remembered: int = 100_000) -> None:
        try:
            self._webhook = Webhook(secret)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("The webhook secret must be the whsec_… value shown on the agent card.") from exc
        self.tolerance = tolerance
        self.max_remembered = max_remembered
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, body: bytes | str, headers: Mapping[str, str]) -> dict[str, Any]:
        """Return the event (the parsed JSON body) or raise :class:`WebhookVerificationError`
        naming what failed. A message is accepted once: its id is remembered."""
        lowered = {k.lower(): v for k, v in headers.items()}
        msg_id = lowered.get("webhook-id")
        timestamp = lowered.get("webhook-timestamp")
        signature = lowered.get("webhook-signature")
        if not (msg_id and timestamp and signature):
            raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
        try:
            sent_at = float(timestamp)
        except ValueError:
            raise WebhookVerificationError("webhook-timestamp is not a Unix time") from None
        now = time.time()
        if abs(now - sent_at) > self.tolerance:
            raise WebhookVerificationError(f"webhook-timestamp is {now - sent_at:+.0f}s off (stale or from the future)")
        data = body.decode() if isinstance(body, bytes) else body
        if not self._signature_matches(msg_id, sent_at, data, signature):
            raise WebhookVerificationError("no matching signature (forged, altered, or another secret)")
        with self._lock:
            self._forget_old(now)
            if msg_id in self._seen:
                raise WebhookVerificationError(f"webhook-id {msg_id} was already accepted (a replay)")
            self._seen[msg_id] = now
        return json.loads(data)

    def _signature_matches(self, msg_id: str, sent_at: float, data: str, header: str) -> bool:
        # The library checks the signature; its own timestamp window (a fixed 5 minutes) is
        # replaced by ours above, so it is asked to sign and the comparison is done here.
        expected = self._webhook.sign(msg_id, datetime.fromtimestamp(sent_at, tz=UTC), data).split(",", 1)[1]
        expected_bytes = base64.b64decode(expected)
        for candidate in header.split():
            version, _, value = candidate.partition(",")
            if version != "v1":
                continue
            try:
                given = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
            if hmac.compare_digest(expected_bytes, given):
                return True
        return False

    def _forget_old(self, now: float) -> None:
        horizon = now - 2 * self.tolerance
        while self._seen and (next(iter(self._seen.values())) < horizon or len(self._seen) >= self.max_remembered):
            self._seen.popitem(last=False)


class WebhookInbox:
    """Where an agent's web handler drops verified action webhooks, so that gates waiting on
    those requests wake at once instead of at their next poll.

    In the agent's webhook view: ``status, text = inbox.receive(body, headers)`` and answer
    that status (204 on success, 400 on a failed verification)."""

    def __init__(self, verifier: WebhookVerifier) -> None:
        self.verifier = verifier
        self._decided: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()

    def receive(self, body: bytes | str, headers: Mapping[str, str]) -> tuple[int, str]:
        try:
            event = self.verifier.verify(body, headers)
        except WebhookVerificationError as exc:
            return 400, str(exc)
        action = event.get("action_request") if isinstance(event, dict) else None
        if event.get("event") == "action_request.decided" and isinstance(action, dict) and action.get("id"):
            with self._cond:
                self._decided[str(action["id"])] = action
                self._cond.notify_all()
        return 204, ""

    def wait(self, action_id: str, timeout: float) -> dict[str, Any] | None:
        """The decided request if its webhook arrives within ``timeout`` seconds, else ``None``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while action_id not in self._decided:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._decided.pop(action_id)
