"""What the SDK raises. Every exception derives from :class:`QuorumError`."""

from __future__ import annotations

from typing import Any


class QuorumError(Exception):
    """Base of every error the SDK raises."""


class QuorumUnavailable(QuorumError):
    """Quorum could not be reached (connection refused, timeout) or kept answering 429/503
    after every retry. A gate treats this as "not allowed": it fails closed."""

    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class QuorumAPIError(QuorumError):
    """Quorum answered with an error that retrying does not cure (400, 401, 403, 404, 409…).

    ``errors`` is the answer's list of ``{"code", "field", "message"}``."""

    def __init__(self, status_code: int, errors: list[dict[str, Any]], body: Any = None) -> None:
        self.status_code = status_code
        self.errors = errors
        self.body = body
        first = errors[0] if errors else {}
        super().__init__(f"HTTP {status_code}: {first.get('message') or first.get('code') or 'error'}")

    @property
    def code(self) -> str | None:
        return self.errors[0].get("code") if self.errors else None


class ActionDenied(QuorumError):
    """The action gate (a rule, the kill switch, a missing grant or a person) said no.

    ``reason`` is Quorum's reason ("side effects disabled", the rule's message…), ``source`` who
    decided (``policy_rule``, ``kill_switch``, ``people``…), ``action`` the whole answer."""

    def __init__(self, action: dict[str, Any]) -> None:
        self.action = action
        decision = action.get("decision") or {}
        self.reason: str = decision.get("reason") or "denied"
        self.source: str | None = decision.get("source")
        self.rule: dict[str, Any] | None = decision.get("rule")
        super().__init__(f"{action.get('tool')}: denied ({self.source}): {self.reason}")


class ActionExpired(QuorumError):
    """Nobody decided the pending action before it expired on the server."""

    def __init__(self, action: dict[str, Any], reason: str | None = None) -> None:
        self.action = action
        self.reason = reason or f"no decision before it expired at {action.get('expires_at')}"
        super().__init__(f"{action.get('tool')}: {self.reason}")


class ActionTimeout(ActionExpired):
    """The gate stopped waiting (its own timeout) while the request is still pending on the
    server. A subclass of :class:`ActionExpired`: for the agent both mean "not now"; the
    request id (``action["id"]``) can be waited on again with ``client.wait_for_action``."""


class WebhookVerificationError(QuorumError):
    """A webhook failed verification: missing headers, a bad or forged signature, a timestamp
    outside the tolerance, or a message id already seen (a replay)."""
