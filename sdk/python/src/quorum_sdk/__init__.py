"""quorum-sdk: govern an agent with Quorum from Python.

::

    from quorum_sdk import QuorumClient, ActionDenied

    quorum = QuorumClient("https://quorum.example.com", agent_key)     # or QUORUM_URL / QUORUM_AGENT_KEY
    if quorum.side_effects_enabled():                                  # the kill switch, fail closed
        with quorum.gate("payments.refund", amount_usd=40, customer_tier="pro", order_id="A-1"):
            refund()                                                   # only when allowed or approved
    quorum.exporter().submit(run_summary)                              # batched in the background

The module-level :func:`gate` uses a default client made from the environment (or the one
given to :func:`configure`)."""

from __future__ import annotations

import threading
from typing import Any

from .client import Controls, QuorumClient, new_idempotency_key
from .errors import (
    ActionDenied,
    ActionExpired,
    ActionTimeout,
    QuorumAPIError,
    QuorumError,
    QuorumUnavailable,
    WebhookVerificationError,
)
from .exporter import ExporterStats, RunExporter
from .gate import Gate, RunRecord, current_run
from .retry import RetryPolicy
from .webhooks import WebhookInbox, WebhookVerifier

__version__ = "0.1.0"

__all__ = [
    "ActionDenied",
    "ActionExpired",
    "ActionTimeout",
    "Controls",
    "ExporterStats",
    "Gate",
    "QuorumAPIError",
    "QuorumClient",
    "QuorumError",
    "QuorumUnavailable",
    "RetryPolicy",
    "RunExporter",
    "RunRecord",
    "WebhookInbox",
    "WebhookVerificationError",
    "WebhookVerifier",
    "configure",
    "current_run",
    "default_client",
    "gate",
    "new_idempotency_key",
]

_default: QuorumClient | None = None
_default_lock = threading.Lock()


def configure(client: QuorumClient | None = None, **options: Any) -> QuorumClient:
    """Set the client the module-level :func:`gate` uses (made from ``options`` and the
    environment when none is given) and return it."""
    global _default
    with _default_lock:
        _default = client or QuorumClient(**options)
        return _default


def default_client() -> QuorumClient:
    """The configured client, made from ``QUORUM_URL`` / ``QUORUM_AGENT_KEY`` on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = QuorumClient()
        return _default


def gate(tool: str, **params: Any) -> Gate:
    """``default_client().gate(tool, **params)``: see :meth:`QuorumClient.gate`."""
    return default_client().gate(tool, **params)
