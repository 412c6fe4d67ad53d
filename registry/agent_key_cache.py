"""Verified agent keys, cached per web process for a few seconds, revoked everywhere at once.

Authenticating an agent read its key row (joined to the agent) on every request: a third of a
write request's time and most of a bare GET's. A web process now remembers, for
``AGENT_KEY_CACHE_SECONDS`` (30; 0 turns the cache off), a key it has verified — by the SHA-256
of the presented secret, never the secret — with its agent row as it was.

The rule that keeps this safe: **any change to any agent key or agent row (revocation,
rotation, issue, expiry, kill switch, status…) takes effect on the next request on every web
node**. Every such save, once committed, writes a new random *stamp* to the shared cache
(Redis); every request reads the stamp (one ``GET``, far cheaper than the row) and uses a cached
entry only when it was verified under the same stamp. A lost stamp (eviction, Redis restart)
reads as another value, so it only costs re-verification. Changes made with ``QuerySet.update()``
bypass the signals: code that changes keys or agents must save rows (the services do)."""

from __future__ import annotations

import copy
import hashlib
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

STAMP_KEY = "registry:agent-keys:stamp"


@dataclass
class _Entry:
    key: object  # registry.models.AgentAPIKey, with its agent
    stamp: str | None
    verified_at: float


_entries: dict[str, _Entry] = {}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_stamp() -> str | None:
    """The current stamp (None when the cache holds none)."""
    return cache.get(STAMP_KEY)


def key_stamp_renew() -> None:
    """Invalidate every web process's cached keys at the next request."""
    cache.set(STAMP_KEY, uuid.uuid4().hex, timeout=None)


def key_changed(**_kwargs) -> None:
    """Signal receiver (``post_save``/``post_delete`` of agent keys and agents): renew the stamp
    once the change is committed (before would let another node re-cache the old row)."""
    transaction.on_commit(key_stamp_renew)


def cached_key(secret: str, stamp: str | None):
    """A copy of the key (with its agent) verified for this secret under this stamp within the
    TTL, or None."""
    ttl = settings.AGENT_KEY_CACHE_SECONDS
    if ttl <= 0:
        return None
    entry = _entries.get(_digest(secret))
    if entry is None or entry.stamp != stamp or time.monotonic() - entry.verified_at > ttl:
        return None
    # Each request gets its own copies: a view that changes its agent object changes no other's.
    key = copy.copy(entry.key)
    key.agent = copy.copy(entry.key.agent)
    return key


def cache_key(secret: str, key, stamp: str | None) -> None:
    """Remember a key just verified (usable, agent loaded) under the stamp read before the read."""
    if settings.AGENT_KEY_CACHE_SECONDS <= 0:
        return
    if len(_entries) > 10_000:  # bounded: a process serving many agents forgets the oldest
        # Threads of one worker may both evict: the second finds the key gone (gthread workers).
        _entries.pop(next(iter(_entries), None), None)
    _entries[_digest(secret)] = _Entry(key=key, stamp=stamp, verified_at=time.monotonic())


def cache_clear() -> None:
    _entries.clear()
