"""Report reads go to the read replica, writes never do (issue 22, item 5).

The test database has a second alias, ``replica`` (config/settings_test.py: a test mirror of
``default``, its own connection to the same database). Transactional tests, because a replica's
connection cannot see another connection's uncommitted rows — exactly as in production."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext

from registry.db_routing import replica_reads
from registry.models import Agent
from reports import selectors
from telemetry.models import DailyRollup
from telemetry.services import rollup_refresh
from tests.factories import AgentFactory
from tests.reports.factories import make_run

both = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def replica_on(settings):
    settings.REPORT_READS_DATABASE = "replica"


@pytest.fixture
def seeded(db):
    agent = AgentFactory(status="production", deployed_at=datetime(2026, 1, 1, tzinfo=UTC))
    for i in range(3):
        make_run(agent, started_at=datetime(2026, 6, 10, 9, tzinfo=UTC) + timedelta(minutes=i))
    rollup_refresh()
    return agent


def _capture(func):
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        result = func()
    return result, [q["sql"] for q in primary.captured_queries], [q["sql"] for q in replica.captured_queries]


@both
def test_report_selectors_read_from_the_replica_and_nothing_from_the_primary(replica_on, seeded, board_user):
    start, end = date(2026, 6, 1), date(2026, 7, 1)
    result, primary, replica = _capture(lambda: selectors.portfolio(user=board_user, start=start, end=end))
    assert [r.metrics.runs for r in result.rois] == [3]  # the replica saw the committed rows
    assert replica and primary == []
    assert any("GROUPING SETS" in sql for sql in replica)  # the raw-SQL scan too
    metrics, primary, replica = _capture(lambda: selectors.agent_metrics(agent=seeded, start=start, end=end))
    assert metrics.runs == 3
    assert replica and primary == []
    burns, primary, replica = _capture(lambda: selectors.budget_burns(now=datetime(2026, 6, 15, tzinfo=UTC)))
    assert replica and primary == []


@both
def test_writes_never_go_to_the_replica_even_inside_report_reads(replica_on, seeded):
    def write():
        with replica_reads():
            assert router.db_for_read(Agent) == "replica"
            assert router.db_for_write(Agent) == "default"
            Agent.objects.filter(pk=seeded.pk).update(name="Renamed")
            AgentFactory(slug="written-during-a-report")

    _, primary, replica = _capture(write)
    assert any(sql.startswith("UPDATE") for sql in primary)
    assert any(sql.startswith("INSERT") for sql in primary)
    assert not any(sql.split()[0] in {"INSERT", "UPDATE", "DELETE"} for sql in replica)


@both
def test_inside_a_transaction_report_reads_stay_on_the_primary(replica_on, seeded):
    with transaction.atomic(), replica_reads():
        assert router.db_for_read(DailyRollup) == "default"  # read your own writes: no lagging replica
    with replica_reads():
        assert router.db_for_read(DailyRollup) == "replica"
    assert router.db_for_read(DailyRollup) == "default"  # outside report reads


@pytest.mark.django_db
def test_without_a_replica_everything_reads_the_primary(seeded):
    with replica_reads():
        assert router.db_for_read(DailyRollup) in {None, "default"}
        assert DailyRollup.objects.all().db == "default"


@pytest.mark.django_db
def test_the_replica_is_never_migrated(replica_on):
    assert router.allow_migrate("replica", "telemetry", model_name="run") is False
    assert router.allow_migrate("default", "telemetry", model_name="run") is True
