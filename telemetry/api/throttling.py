"""Per-agent rate limit, counted atomically in the shared cache (Redis in production).

A fixed one-minute window per agent. On Redis one script does ``INCR`` and ``EXPIRE`` atomically,
so every web process and node shares one exact count in one round trip.
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
        allowed, self._wait = window_hit(self.scope, str(agent.pk))
        return allowed

    def wait(self) -> float:
        return max(1, int(self._wait + 0.999))


class WhoAmIThrottle(AgentRateThrottle):
    """The key check's own per-agent counter, at the same limit."""

    scope = "whoami"


def window_hit(scope: str, ident: str) -> tuple[bool, float]:
    """Count one request of ``ident`` (an agent's pk, or another principal's id) in the current
    minute of ``scope``; whether it is within ``TELEMETRY_RATE_LIMIT_PER_MINUTE`` and the seconds
    left in the window (the Retry-After when it is not). The OTLP receiver shares the agent's
    ``runs`` budget with the REST ingest through this function."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    count = _hit(f"telemetry:rl:{scope}:{ident}:{window}")
    return count <= settings.TELEMETRY_RATE_LIMIT_PER_MINUTE, (window + 1) * WINDOW_SECONDS - now


def _hit(key: str) -> int:
    """Count one request in the window's counter; atomic across processes."""
    client = _redis_client()
    if client is not None:
        # One round trip, one command: a script runs INCR and EXPIRE atomically (as MULTI/EXEC
        # did, without redis-py building a pipeline, and copying its callback table, per request).
        full_key = cache.make_and_validate_key(key)
        return int(_window_script(client)(keys=[full_key], args=[WINDOW_SECONDS + 5]))
    # Other cache backends (the embedded file cache): add() creates the counter atomically,
    # of two processes racing on the window's first request one adds, the other increments.
    if cache.add(key, 1, timeout=WINDOW_SECONDS + 5):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired in between
        cache.add(key, 1, timeout=WINDOW_SECONDS + 5)
        return 1


_WINDOW_LUA = "local n = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1]) return n"


def _window_script(client):
    """The window's script bound to ``client``, kept on it (redis-py then sends the script's SHA,
    and the script itself only when the server does not know it yet, e.g. after a restart)."""
    script = getattr(client, "_quorum_window_script", None)
    if script is None:
        script = client._quorum_window_script = client.register_script(_WINDOW_LUA)
    return script


def _redis_client():
    """The redis-py client behind Django's RedisCache (``_cache`` is Django's own, stable since 4.0),
    or None for other backends."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(write=True)
    return None
