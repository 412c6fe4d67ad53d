"""When and how long to wait before trying a request again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, on 429/503 and on connection errors and timeouts.

    Every write carries an idempotency key, so sending it again is safe. A ``Retry-After``
    header is honoured (the wait is at least what the server asked); one longer than
    ``max_retry_after`` is not waited for: the call fails at once with ``QuorumUnavailable``."""

    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based): uniform in
        ``[0, min(max_delay, base_delay * 2**(attempt-1))]`` (AWS's "full jitter")."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before the next attempt: the server's ``Retry-After`` plus a little jitter
        (so many agents throttled together do not return together), else the backoff."""
        if retry_after is not None:
            return retry_after + random.uniform(0, self.base_delay)
        return self.backoff(attempt)


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date. ``None`` when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
