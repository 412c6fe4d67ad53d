"""Per-agent rate limit, counted atomically in the shared cache (Redis in production).

A fixed one-minute window: ``cache.add`` creates the counter with its expiry, ``cache.incr``
(Redis ``INCRBY``) bumps it atomically, so every web process and node shares one count.
DRF's own ``SimpleRateThrottle`` reads and rewrites a list, which two processes can race."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

WINDOW_SECONDS = 60


class AgentRateThrottle(BaseThrottle):
    scope = "runs"

    def allow_request(self, request, view) -> bool:
        agent = getattr(request.user, "agent", None)
        if agent is None:
            return True
        limit = settings.TELEMETRY_RATE_LIMIT_PER_MINUTE
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = f"telemetry:rl:{self.scope}:{agent.pk}:{window}"
        cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: start the window again
            cache.add(key, 1, timeout=WINDOW_SECONDS + 5)
            count = 1
        self._wait = (window + 1) * WINDOW_SECONDS - now
        return count <= limit

    def wait(self) -> float:
        return max(1, int(self._wait + 0.999))
