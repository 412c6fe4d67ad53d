"""Attributing audit-trail entries to the person (or nobody) behind a service call."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from auditlog.cid import set_cid
from auditlog.context import _set_extra_data, auditlog_value, disable_auditlog, set_actor
from auditlog.diff import model_instance_diff
from auditlog.middleware import AuditlogMiddleware
from auditlog.models import LogEntry, LogEntryManager
from auditlog.signals import pre_log
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.signals import post_save, pre_save
from django.http import HttpRequest, HttpResponse

from . import audit_sources
from .audit_chain import chain_batch

# --- the request's audit context, without a signal receiver per request -------------------------
#
# auditlog's middleware connects a pre_save receiver for LogEntry at the start of every request and
# disconnects it at the end (``auditlog.context.call_context_manager``). Connecting takes the
# signal's lock and empties its receiver cache, so every model save in every thread then looks its
# receivers up again; on the agent endpoints it cost about a tenth of a millisecond of CPU per
# request (issue 18's gate latency). Here one receiver is connected for good (``ready``) and the
# middleware only sets the context: auditlog's receiver fills in a LogEntry from the context whose
# ``signal_duid`` is its own, so entries get the same actor, address and port as before, and a
# nested ``acting_as`` (auditlog's ``set_actor``, its own duid and receiver) still wins inside it.

REQUEST_CONTEXT_DUID = ("quorum.request_audit_context",)


def request_context_receiver(sender, instance, **kwargs) -> None:
    """pre_save of LogEntry: the current request's actor, address and port onto the entry. Only
    under the middleware's context: outside a request (a task, a command, a test) the variable is
    unset or holds None (``acting_as`` puts back what it found), and auditlog's own receiver
    would fail on None."""
    context = auditlog_value.get(None)
    if context is not None and context.get("signal_duid") == REQUEST_CONTEXT_DUID:
        _set_extra_data(sender, instance, signal_duid=REQUEST_CONTEXT_DUID)


class AuditContextMiddleware(AuditlogMiddleware):
    """auditlog's middleware (the same context: actor, remote address and port, correlation id)
    with the context set, and reset after the answer, instead of a receiver connected per request."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        set_cid(request)
        context = {**self.get_extra_data(request), "signal_duid": REQUEST_CONTEXT_DUID}
        token = auditlog_value.set(context)
        try:
            return self.get_response(request)
        finally:
            auditlog_value.reset(token)


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


# --- auditlog entries from the row in memory (issue 22, item 3) ---------------------------------
#
# django-auditlog records an update by reading the old row back from the database before the save
# (its pre_save receiver), and inserts each LogEntry on its own. A service that has just read the
# row under its lock already holds the old values: ``audit_baseline`` keeps a copy of them, and
# ``audited_save`` computes auditlog's diff against that copy (auditlog's own ``model_instance_diff``
# and ``log_create``, so the entry is the one auditlog would have written). Inside ``audit_batch``
# the entries are inserted together at the end, then chained (the chain's ``chain_batch``).


class _UnsavedLogEntries(LogEntryManager):
    """auditlog's ``log_create`` (which fills in the type, key, repr, serialized data, additional
    data and correlation id exactly as auditlog does) with the insert left out."""

    def create(self, **kwargs):
        return LogEntry(**kwargs)


_unsaved_log_entries = _UnsavedLogEntries()
_unsaved_log_entries.model = LogEntry

# A list while an audit_batch is open: (entry, the instance it is about) to insert at its end.
_pending_log_entries: ContextVar[list[tuple[LogEntry, models.Model]] | None] = ContextVar(
    "audit_pending_log_entries", default=None
)


def audit_baseline(instance: models.Model) -> models.Model:
    """Remember ``instance`` as just read (under this transaction's lock) so that
    :func:`audited_save` diffs against it instead of auditlog reading the row again."""
    instance._audit_baseline = copy.copy(instance)
    return instance


def audited_save(instance: models.Model, *, update_fields: list[str] | None = None, create: bool = False) -> None:
    """Save ``instance`` (``create``: insert it) and record auditlog's entry for the change.

    The old values are the :func:`audit_baseline` copy (none for a creation); without one the
    save is an ordinary one and auditlog reads the old row itself. The row must be locked since
    the baseline was taken (the callers read it ``select_for_update``), or the diff could miss
    another writer's change. The baseline moves to the saved state, for a second save."""
    if not create and getattr(instance, "_audit_baseline", None) is None:
        instance.save(update_fields=update_fields)
        return
    with disable_auditlog():
        instance.save(force_insert=create, update_fields=None if create else update_fields)
    audit_record(instance, update_fields=update_fields, create=create)


def audit_record(instance: models.Model, *, update_fields: list[str] | None = None, create: bool = False) -> None:
    """Record auditlog's entry for a change of ``instance`` since its :func:`audit_baseline`
    (``create``: its creation), and move the baseline to its present state.

    Called alone, for a transition the caller saves later in the same transaction together with
    the next one (a request approved and applied in one write keeps both steps in the trail)."""
    baseline = None if create else instance._audit_baseline
    audit_baseline(instance)
    action = LogEntry.Action.CREATE if create else LogEntry.Action.UPDATE
    # auditlog's pre_log lets a receiver veto the entry; ours remembers the instance (its agent).
    if any(result is False for _, result in pre_log.send(type(instance), instance=instance, action=action)):
        return
    changes = model_instance_diff(
        baseline,
        instance,
        fields_to_check=None if create else update_fields,
        use_json_for_changes=settings.AUDITLOG_STORE_JSON_CHANGES,
    )
    if not changes:
        return
    entry = _unsaved_log_entries.log_create(instance, action=action, changes=changes)
    pending = _pending_log_entries.get()
    if pending is not None:
        pending.append((entry, instance))
    else:
        entry.save()


@contextmanager
def audit_batch() -> Iterator[None]:
    """Insert the auditlog entries :func:`audited_save` records inside the block in one
    statement at its end, and put them and every other entry of the block on the audit chain
    in one more (``chain_batch``). Use it inside the business transaction; a batch inside a
    batch joins it. An exception discards the entries with the transaction."""
    if _pending_log_entries.get() is not None:
        yield
        return
    with chain_batch():
        pending: list[tuple[LogEntry, models.Model]] = []
        token = _pending_log_entries.set(pending)
        try:
            yield
        finally:
            _pending_log_entries.reset(token)
        if pending:
            _log_entries_insert(pending)


def _log_entries_insert(pending: list[tuple[LogEntry, models.Model]]) -> None:
    """Insert queued entries with the signals a single save sends: ``pre_save`` (auditlog's
    context fills in the actor and address), then ``post_save``, which puts each on the chain
    (``audit_sources.chain_logentry``, filed under the agent of the instance it is about)."""
    entries = [entry for entry, _ in pending]
    for entry in entries:
        pre_save.send(LogEntry, instance=entry, raw=False, using=DEFAULT_DB_ALIAS, update_fields=None)
    LogEntry.objects.bulk_create(entries)
    for entry, instance in pending:
        audit_sources.remember_logged_instance(type(instance), instance)
        post_save.send(LogEntry, instance=entry, created=True, raw=False, using=DEFAULT_DB_ALIAS, update_fields=None)
