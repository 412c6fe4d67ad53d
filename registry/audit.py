"""Attributing audit-trail entries to the person (or nobody) behind a service call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from auditlog.context import auditlog_value, set_actor


@contextmanager
def acting_as(actor) -> Iterator[None]:
    """Attribute audit entries made inside the block to ``actor``, then restore whatever
    context was active before. auditlog's own ``set_actor`` overwrites the context and never
    restores it, so nesting it (a service called from a view under the auditlog middleware)
    would silently drop the outer actor for every later save in the same request."""
    previous = auditlog_value.get(None)
    if actor is None or (previous and previous.get("actor") == actor):
        yield
        return
    try:
        with set_actor(actor):
            yield
    finally:
        # Always put back what was there, even nothing: set_actor leaves its context behind with
        # its receiver disconnected, and a later acting_as(same actor) would take that stale
        # context for a live one and record nothing (two services called in a row lost the actor).
        auditlog_value.set(previous)


def audit_actor_attach(user) -> None:
    """Name ``user`` as the actor of the current request's audit context.

    The auditlog middleware resolves the actor before the view runs, which is before DRF
    authenticates a token; token calls would otherwise be recorded with no actor. The context
    is a dict shared with the middleware's receiver, so filling it in here is enough."""
    context = auditlog_value.get(None)
    if context is not None and context.get("actor") is None:
        context["actor"] = user
