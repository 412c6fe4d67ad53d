"""Prepared statements for the few statements every agent request runs (issue 22 item 3; issues 17, 18).

Why: PostgreSQL parses and plans every statement it is sent as text. Django binds parameters on
the client (its default), so every statement arrives as new text and is planned afresh. The action
gate's read joins six tables. It was planned in 0.6–0.7 ms on every request, then ran in 0.13 ms.

Here, by contrast, a statement is sent with server-side parameters as a named prepared statement.
Each connection parses it once. After five executions PostgreSQL keeps a generic plan when it
costs no more than the custom ones. The measurement: 500 gate reads on one connection, the
two ways alternating, 6 rounds, load 3. Backend CPU per read fell from 0.88 to 0.14 ms, the
client's CPU from 0.18 to 0.12 ms, and wall time from 1.23 to 0.30 ms (README, Performance).

Only the statements that ask for it (:func:`prepared_row`, :func:`prepared_cursor`) are prepared. The ORM keeps Django's
client-side binding, so nothing else changes. A prepared statement is per connection (psycopg
keeps at most ``prepared_max``, 100, and evicts the oldest). PostgreSQL replans it by itself after
DDL or ``ANALYZE`` on a table it reads (a new partition, a migration).

``DATABASE_PREPARED_STATEMENTS=0`` turns it off, and every statement goes back to client-side
binding. Use it behind PgBouncer in transaction mode older than 1.21, or with
``max_prepared_statements = 0``: such a pooler cannot follow a named statement from one server
connection to another.

Statements written for this path must type every parameter PostgreSQL cannot infer (``%s::text``
where a bare ``%s IS NULL`` would be ambiguous): the values travel apart from the text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorWrapper

# psycopg's automatic preparation (a statement run this many times on a connection is prepared) is
# off in Django (``prepare_threshold`` None, which also ignores ``prepare=True``). A threshold no
# statement reaches keeps it off for everything but this module's cursors, which prepare at once.
NEVER_AUTOMATICALLY = 2**31 - 1


class _PreparingCursor(psycopg.Cursor):
    """A server-side binding cursor that prepares every statement it executes (Django's cursor
    wrapper calls ``execute(sql, params)`` and has no way to ask for it)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):  # noqa: ARG002 - always prepared
        result = super().execute(query, params, prepare=True, binary=binary)
        # psycopg keeps the text of unprepared statements only; Django's query log (debug, tests'
        # query capture) reads it from here. The statement's text, without its values.
        self._query = _StatementText(query.encode() if isinstance(query, str) else bytes(query))
        return result


class _StatementText:
    __slots__ = ("query",)

    def __init__(self, query: bytes):
        self.query = query


def prepared_statements_enabled() -> bool:
    return getattr(settings, "DATABASE_PREPARED_STATEMENTS", True)


@contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """A cursor on the default connection whose statements are prepared (module docstring); with
    ``DATABASE_PREPARED_STATEMENTS`` off, Django's own cursor. Either way it is Django's wrapper:
    errors are Django's and tests' query capture sees every statement."""
    if not prepared_statements_enabled():
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = NEVER_AUTOMATICALLY
    with connection._prepare_cursor(_PreparingCursor(raw)) as cursor:
        yield cursor


def prepared_row(sql: str, params: Sequence | Mapping, *, lock_sql: str = "") -> tuple | None:
    """The first row of ``sql`` run with ``params`` as a prepared statement. ``lock_sql`` (a
    statement ending in ``;`` that takes a transaction-level lock, or nothing) runs first, in the
    same transaction and the same round trip: psycopg's pipeline mode sends both and reads both
    answers at once, and outside a transaction PostgreSQL runs a pipeline's statements in one
    implicit transaction until its end, so the lock is held until ``sql`` has committed. ``sql``
    is a statement of its own, with a snapshot taken after the lock was granted.

    With prepared statements off: the same two statements as one simple query, which PostgreSQL
    also runs as one implicit transaction."""
    if not prepared_statements_enabled():
        with connection.cursor() as cursor:
            cursor.execute(lock_sql + sql, params)
            if lock_sql:
                cursor.nextset()
            return cursor.fetchone()
    with prepared_cursor() as cursor:
        if not lock_sql:
            cursor.execute(sql, params)
            return cursor.fetchone()
        # Errors surface when the pipeline ends (or its results are read): Django's wrapper only
        # translates those raised by execute(), so translate these here (IntegrityError and the rest).
        with connection.wrap_database_errors:
            with connection.connection.pipeline():
                cursor.execute(lock_sql, params)
                cursor.execute(sql, params)
            return cursor.fetchone()
