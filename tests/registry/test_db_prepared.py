"""The agents' hot statements go as prepared statements (registry/db_prepared.py): planned once per
connection, logged like any other statement, errors translated as Django's, and off with
``DATABASE_PREPARED_STATEMENTS``."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from registry.db_prepared import prepared_row
from registry.models import Team

pytestmark = pytest.mark.django_db

SQL = "SELECT %(a)s::int + %(b)s::int, %(name)s::text IS NULL"


def _prepared_texts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_statement_is_prepared_once_per_connection_and_logged_by_its_text():
    with CaptureQueriesContext(connection) as queries:
        assert prepared_row(SQL, {"a": 1, "b": 2, "name": None}) == (3, True)
        assert prepared_row(SQL, {"a": 40, "b": 2, "name": "x"}) == (42, False)
    assert [q["sql"] for q in queries] == [SQL, SQL]
    assert len([text for text in _prepared_texts() if "+ $2::int" in text]) == 1


def test_off_the_statement_goes_as_text_and_nothing_is_prepared(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    assert prepared_row(SQL, {"a": 1, "b": 2, "name": None}) == (3, True)
    assert not [text for text in _prepared_texts() if "+ $2::int" in text]


@pytest.mark.parametrize("prepared", [True, False])
def test_a_lock_and_its_statement_go_together_and_a_failure_is_djangos_integrity_error(settings, prepared):
    settings.DATABASE_PREPARED_STATEMENTS = prepared
    Team.objects.create(slug="taken", name="taken")
    lock = "SELECT pg_advisory_xact_lock(%(key)s::int, %(key)s::int);"
    insert = (
        "INSERT INTO registry_team (slug, name, description) VALUES (%(slug)s::text, %(slug)s::text, '') RETURNING slug"
    )
    assert prepared_row(insert, {"key": 7, "slug": "free"}, lock_sql=lock) == ("free",)
    with pytest.raises(IntegrityError), transaction.atomic():
        prepared_row(insert, {"key": 7, "slug": "taken"}, lock_sql=lock)
    # The connection is usable afterwards, and the lock is held by this (test) transaction.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone()[0] >= 1
    assert Team.objects.filter(slug__in=["free", "taken"]).count() == 2
