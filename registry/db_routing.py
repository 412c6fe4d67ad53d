"""Report reads on a read replica (issue 22, item 5): the database router and the one switch.

The rule: reads made inside :func:`replica_reads` (the report selectors, ``reports/selectors``)
go to the ``settings.REPORT_READS_DATABASE`` alias — a PostgreSQL streaming replica, configured
when ``DATABASE_REPLICA_URL`` is set — and every other read, and **every write**, goes to
``default``. Two exceptions keep reads honest:

* inside a transaction on ``default`` the replica is never used: a caller that has just written
  must read its own writes, and a replica lags by up to seconds;
* with no replica configured the router has no opinion, so nothing changes.

Report pages show days and months of rollups, so seconds of replica lag are invisible there;
governance reads (who may approve, what the gate allows) never take this path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router

_REPORT_READS: ContextVar[bool] = ContextVar("quorum_report_reads", default=False)

P = ParamSpec("P")
R = TypeVar("R")


def report_reads_alias() -> str | None:
    """The replica's alias when one is configured, else None."""
    alias = getattr(settings, "REPORT_READS_DATABASE", None)
    return alias if alias and alias in settings.DATABASES else None


@contextmanager
def replica_reads() -> Iterator[None]:
    """Route the reads made inside this block to the replica (when there is one)."""
    token = _REPORT_READS.set(True)
    try:
        yield
    finally:
        _REPORT_READS.reset(token)


def reads_from_replica(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of :func:`replica_reads`, for a report selector."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with replica_reads():
            return func(*args, **kwargs)

    return wrapper


def primary_in_transaction() -> bool:
    """Is this thread inside a transaction on the primary? (Then reads stay there.)"""
    return connections[DEFAULT_DB_ALIAS].in_atomic_block


def read_connection(model):
    """The connection a raw-SQL read of ``model`` should use: the router's answer."""
    return connections[router.db_for_read(model)]


class ReportReplicaRouter:
    """``settings.DATABASE_ROUTERS``' only entry; see the module docstring for the rule."""

    def db_for_read(self, model, **hints) -> str | None:
        replica = report_reads_alias()
        if replica is None:
            return None
        if _REPORT_READS.get() and not primary_in_transaction():
            return replica
        # Outside a report read, even an object that came from the replica reads its relations
        # from the primary.
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # Both aliases are the same database (one a copy of the other).
        aliases = {DEFAULT_DB_ALIAS, report_reads_alias()}
        if obj1._state.db in aliases and obj2._state.db in aliases:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        # A replica is migrated by replication, never by Django.
        if db != DEFAULT_DB_ALIAS and db == report_reads_alias():
            return False
        return None
