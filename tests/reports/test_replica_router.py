"""Report reads go to the read replica, writes never do (issue 22, item 5).

Each test adds a second alias, ``replica``, to the settings and binds it to the test's own
connection (a real second connection could not see the test transaction's rows, and a permanent
test mirror in the settings broke other tests' serialized rollback). Every read decision the
router makes is recorded, so the tests see where each of the selectors' reads — ORM and raw SQL —
was sent, and that every write went to ``default``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connections, router, transaction

from registry import db_routing
from registry.db_routing import ReportReplicaRouter, replica_reads
from registry.models import Agent
from reports import selectors
from telemetry.models import DailyRollup
from telemetry.services import rollup_refresh
from tests.factories import AgentFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def replica_on(settings, monkeypatch):
    """The ``replica`` alias (bound to the test's connection), the router told to use it, and
    a record of every routing answer: [(kind, model label, alias)]. The test runs inside a
    transaction, which the router would rightly keep on the primary: for these tests it is
    treated as outside one (``test_inside_a_transaction…`` checks the real rule)."""
    from django.conf import settings as django_settings

    django_settings.DATABASES["replica"] = {**connections["default"].settings_dict}
    connections["replica"] = connections["default"]
    settings.REPORT_READS_DATABASE = "replica"
    answers: list[tuple[str, str, str | None]] = []
    read, write = ReportReplicaRouter.db_for_read, ReportReplicaRouter.db_for_write

    def spy_read(self, model, **hints):
        answers.append(("read", model._meta.label_lower, alias := read(self, model, **hints)))
        return alias

    def spy_write(self, model, **hints):
        answers.append(("write", model._meta.label_lower, alias := write(self, model, **hints)))
        return alias

    monkeypatch.setattr(ReportReplicaRouter, "db_for_read", spy_read)
    monkeypatch.setattr(ReportReplicaRouter, "db_for_write", spy_write)
    monkeypatch.setattr(db_routing, "primary_in_transaction", lambda: False)
    try:
        yield answers
    finally:
        del connections["replica"]
        django_settings.DATABASES.pop("replica", None)


@pytest.fixture
def seeded(db):
    agent = AgentFactory(status="production", deployed_at=datetime(2026, 1, 1, tzinfo=UTC))
    for i in range(3):
        make_run(agent, started_at=datetime(2026, 6, 10, 9, tzinfo=UTC) + timedelta(minutes=i))
    rollup_refresh()
    return agent


def _reads(answers) -> set:
    return {alias for kind, _, alias in answers if kind == "read"}


def test_report_selectors_read_from_the_replica_only(replica_on, seeded, board_user):
    start, end = date(2026, 6, 1), date(2026, 7, 1)
    replica_on.clear()  # the fixtures' own reads and writes
    result = selectors.portfolio(user=board_user, start=start, end=end)
    assert [r.metrics.runs for r in result.rois] == [3]
    assert ("read", "telemetry.dailyrollup", "replica") in replica_on  # the raw GROUPING SETS scan
    assert ("read", "registry.agent", "replica") in replica_on
    assert _reads(replica_on) == {"replica"}
    replica_on.clear()
    assert selectors.agent_metrics(agent=seeded, start=start, end=end).runs == 3
    selectors.budget_burns(now=datetime(2026, 6, 15, tzinfo=UTC))
    assert replica_on and _reads(replica_on) == {"replica"}


def test_writes_never_go_to_the_replica_even_inside_report_reads(replica_on, seeded):
    replica_on.clear()
    with replica_reads():
        Agent.objects.filter(pk=seeded.pk).update(name="Renamed")
        AgentFactory(slug="written-during-a-report")
    writes = [alias for kind, _, alias in replica_on if kind == "write"]
    assert writes and set(writes) == {"default"}


def test_reads_outside_report_selectors_stay_on_the_primary(replica_on, seeded):
    replica_on.clear()
    Agent.objects.get(pk=seeded.pk)
    assert _reads(replica_on) == {"default"}


def test_inside_a_transaction_report_reads_stay_on_the_primary(replica_on, monkeypatch):
    with replica_reads():
        assert router.db_for_read(DailyRollup) == "replica"
    monkeypatch.undo()  # the real rule: this test runs inside a transaction
    with transaction.atomic(), replica_reads():
        assert db_routing.primary_in_transaction()
        assert ReportReplicaRouter().db_for_read(DailyRollup) == "default"  # read your own writes


def test_without_a_replica_everything_reads_the_primary(seeded):
    with replica_reads():
        assert router.db_for_read(DailyRollup) in {None, "default"}
        assert DailyRollup.objects.all().db == "default"


def test_the_replica_is_never_migrated(replica_on):
    assert router.allow_migrate("replica", "telemetry", model_name="run") is False
    assert router.allow_migrate("default", "telemetry", model_name="run") is True
