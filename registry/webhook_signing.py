"""Standard Webhooks signing (standardwebhooks.com), for every signed call Quorum makes: the action
gate's webhook (actions) and the generic signed-webhook alert channel (``registry.channels``).

It lives in registry, the bottom layer, so both can use one implementation; ``actions.services``
re-exports these names for the SDK tests and older callers."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

WEBHOOK_SECRET_PREFIX = "whsec_"


def webhook_secret_new() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_secret_standard_form(secret: str) -> str:
    """The ``whsec_`` form of a webhook secret (Standard Webhooks: base64 of the key bytes).
    Secrets made before Standard Webhooks are 64 hex characters; their key is those
    characters' bytes, the key the legacy ``X-Quorum-Signature`` always used, so an existing
    secret needs no rotation: its receiver can switch to the standard headers as it is."""
    if secret.startswith(WEBHOOK_SECRET_PREFIX):
        return secret
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secret.encode()).decode()


def webhook_standard_headers(secret: str, msg_id: str, body: bytes, *, sent_at: datetime | None = None) -> dict:
    """The Standard Webhooks headers (standardwebhooks.com): ``webhook-id``, ``webhook-timestamp``
    (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``,
    signed by the maintained ``standardwebhooks`` package. The id is the same on every
    redelivery of a message, so receivers drop duplicates and replays by it."""
    sent_at = sent_at or timezone.now()
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(sent_at.timestamp()))}
    if secret:  # a URL set outside the services may lack one: the receiver then refuses it
        headers["webhook-signature"] = StandardWebhook(webhook_secret_standard_form(secret)).sign(
            msg_id, sent_at, body.decode()
        )
    return headers
