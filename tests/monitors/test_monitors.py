"""User-defined monitors: thresholds with warning and alert levels, windows, no-data handling,
composite AND conditions, agent/team/portfolio scopes, the provider-429 rate from run metadata, a
failing scheduled eval of the live version; one notification per alert however often evaluated."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction

from evals.choices import RunSource
from evals.choices import RunStatus as EvalStatus
from evals.models import EvalRun
from evals.services import goldenset_create
from monitors.choices import Level, Metric, NoData, Scope
from monitors.models import Monitor, MonitorCondition
from monitors.services import evaluate_all, monitor_evaluate
from registry.channel_models import AlertChannel, AlertRecord, Notification
from registry.choices import VersionState
from telemetry import rollups
from tests.factories import AgentFactory, AgentVersionFactory, TeamFactory, UserFactory
from tests.reports.factories import make_run

from .conftest import NOW, fill

pytestmark = pytest.mark.django_db


def _monitor(name="m", *, agent=None, team=None, scope=Scope.AGENT, no_data=NoData.OK, conditions=()):
    monitor = Monitor.objects.create(name=name, scope=scope, agent=agent, team=team, no_data=no_data)
    for metric, comparator, window, warning, alert in conditions:
        MonitorCondition.objects.create(
            monitor=monitor,
            metric=metric,
            comparator=comparator,
            window_minutes=window,
            warning_threshold=None if warning is None else Decimal(str(warning)),
            alert_threshold=Decimal(str(alert)),
        )
    return Monitor.objects.prefetch_related("conditions").select_related("agent", "team").get(pk=monitor.pk)


@pytest.fixture
def agent():
    return AgentFactory(owner=UserFactory(email="owner@example.test"))


def test_warning_then_alert_then_clear_with_one_notification_each(agent, deliveries):
    """Error rate over 10 minutes: warning at 2 %, alert at 5 %. Evaluated again and again, each
    level sends once; going back under both resolves."""
    monitor = _monitor(agent=agent, conditions=[(Metric.ERROR_RATE, "above", 10, 2, 5)])
    fill(agent, minutes=10, bad=3)
    assert [deliveries(monitor_evaluate, monitor=monitor, now=NOW) for _ in range(3)] == ["warning"] * 3
    fill(agent, minutes=10, bad=7)
    assert [deliveries(monitor_evaluate, monitor=monitor, now=NOW) for _ in range(3)] == ["alert"] * 3
    monitor.refresh_from_db()
    assert monitor.last_values[0]["value"] == "7.00"
    fill(agent, minutes=10, bad=0)
    assert deliveries(monitor_evaluate, monitor=monitor, now=NOW) == "ok"
    subjects = [m.subject for m in mail.outbox]
    assert len(subjects) == 4, subjects  # warning, its resolution, alert, its resolution
    assert sum("[Resolved]" in s for s in subjects) == 2
    assert not AlertRecord.objects.filter(resolved_at__isnull=True).exists()


def test_composite_and_needs_every_condition(agent, deliveries):
    """p95 over 8 s AND success under 85 % for 20 minutes: slow alone is not enough, both are."""
    monitor = _monitor(
        agent=agent,
        conditions=[(Metric.P95_LATENCY_MS, "above", 20, None, 8000), (Metric.SUCCESS_RATE, "below", 20, None, 85)],
    )
    fill(agent, minutes=20, slow=50)  # p95 20 s, success 100 %
    assert deliveries(monitor_evaluate, monitor=monitor, now=NOW) == "ok"
    fill(agent, minutes=20, slow=50, escalations=20)  # and success 80 %
    assert deliveries(monitor_evaluate, monitor=monitor, now=NOW) == "alert"


@pytest.mark.parametrize(
    ("no_data", "previous", "expected"),
    [(NoData.OK, Level.ALERT, "ok"), (NoData.ALERT, Level.OK, "alert"), (NoData.KEEP, Level.WARNING, "warning")],
)
def test_no_data_handling(agent, deliveries, no_data, previous, expected):
    monitor = _monitor(agent=agent, no_data=no_data, conditions=[(Metric.ERROR_RATE, "above", 5, 2, 5)])
    Monitor.objects.filter(pk=monitor.pk).update(level=previous)
    monitor.refresh_from_db()
    assert deliveries(monitor_evaluate, monitor=monitor, now=NOW) == expected
    monitor.refresh_from_db()
    assert monitor.last_values[0]["value"] is None and monitor.last_values[0]["level"] == "no_data"


def test_team_and_portfolio_scopes_sum_their_agents(deliveries):
    """A team monitor counts its agents only; the portfolio counts every agent."""
    team = TeamFactory()
    mine, other = AgentFactory(owner_team=team), AgentFactory()
    fill(mine, minutes=5, runs=100, bad=1)
    fill(other, minutes=5, runs=100, bad=19)
    team_monitor = _monitor("team", scope=Scope.TEAM, team=team, conditions=[(Metric.ERROR_RATE, "above", 5, None, 5)])
    portfolio = _monitor("all", scope=Scope.PORTFOLIO, conditions=[(Metric.ERROR_RATE, "above", 5, None, 5)])
    assert deliveries(monitor_evaluate, monitor=team_monitor, now=NOW) == "ok"  # 1 %
    assert deliveries(monitor_evaluate, monitor=portfolio, now=NOW) == "alert"  # 10 %
    # A team channel hears its team's monitor only.
    AlertChannel.objects.create(name="team mail", kind="email", team=team, emails="team@example.test")
    fill(mine, minutes=5, runs=100, bad=9)
    assert deliveries(monitor_evaluate, monitor=team_monitor, now=NOW) == "alert"
    assert Notification.objects.filter(channel__team=team).count() == 1


def test_provider_429s_above_5_percent_over_5_minutes_from_run_metadata(agent, deliveries):
    """Runs report provider_429s in their metadata; the five-minute rollups count the runs with any,
    and the monitor alerts over 5 % of runs in 5 minutes."""
    start = NOW - timedelta(minutes=5)
    for i in range(20):
        run = make_run(agent, started_at=start + timedelta(seconds=10 * i), save=False)
        run.metadata = {"provider_429s": 2} if i < 2 else ({"provider_429s": 0} if i == 2 else {})
        run.save()
    with transaction.atomic():
        rollups.recompute_fine(agent_id=agent.pk, buckets={start})
    monitor = _monitor(agent=agent, conditions=[(Metric.PROVIDER_429_RATE, "above", 5, None, 5)])
    assert deliveries(monitor_evaluate, monitor=monitor, now=NOW) == "alert"
    monitor.refresh_from_db()
    assert monitor.last_values[0]["value"] == "10.00"  # 2 of 20 runs


def test_failing_scheduled_eval_of_the_live_version(agent, deliveries):
    """The live version's latest scheduled eval failed: alert; a later passing one clears it.
    A failing console run, or one of another version, does not count."""
    live = AgentVersionFactory(agent=agent, state=VersionState.DEPLOYED)
    old = AgentVersionFactory(agent=agent, state=VersionState.SUPERSEDED)
    set_version = goldenset_create(agent=agent, name="core").versions.get()

    def eval_run(version, key, *, passed, source=RunSource.SCHEDULE):
        return EvalRun.objects.create(
            agent=agent,
            version=version,
            set_version=set_version,
            idempotency_key=key,
            source=source,
            status=EvalStatus.COMPLETED,
            pass_rate_pct=Decimal("90" if passed else "40"),
            passed=passed,
            threshold_pct=Decimal("80"),
            finished_at=NOW,
        )

    monitor = _monitor(agent=agent, conditions=[(Metric.EVAL_FAILING, "above", 5, None, 0)])
    eval_run(old, "a", passed=False)
    eval_run(live, "b", passed=False, source=RunSource.CONSOLE)
    assert deliveries(monitor_evaluate, monitor=monitor, now=NOW) == "ok"
    eval_run(live, "c", passed=False)
    assert deliveries(monitor_evaluate, monitor=monitor, now=NOW) == "alert"
    eval_run(live, "d", passed=True)
    assert deliveries(monitor_evaluate, monitor=monitor, now=NOW) == "ok"


def test_the_beat_pass_is_idempotent(agent, deliveries):
    """The beat's whole pass twice: the same levels, one notification."""
    _monitor(agent=agent, conditions=[(Metric.ESCALATION_RATE, "above", 5, None, 2)])
    fill(agent, minutes=5, escalations=10)
    assert deliveries(evaluate_all, now=NOW) == {"slos": 0, "monitors": 1}
    assert deliveries(evaluate_all, now=NOW) == {"slos": 0, "monitors": 1}
    assert Notification.objects.count() == 1 and len(mail.outbox) == 1


def test_one_monitor_failing_to_evaluate_does_not_silence_the_others(agent, deliveries, monkeypatch):
    from monitors import selectors

    broken = _monitor("broken", agent=agent, conditions=[(Metric.RUNS, "above", 5, None, 0)])
    _monitor("fine", agent=agent, conditions=[(Metric.ESCALATION_RATE, "above", 5, None, 2)])
    fill(agent, minutes=5, escalations=10)
    real = selectors.condition_value

    def flaky(monitor, metric, **kw):
        if monitor.pk == broken.pk:
            raise RuntimeError("boom")
        return real(monitor, metric, **kw)

    monkeypatch.setattr(selectors, "condition_value", flaky)
    assert deliveries(evaluate_all, now=NOW) == {"slos": 0, "monitors": 1}
    assert Monitor.objects.get(name="fine").level == "alert"


def test_the_pass_refreshes_last_seen_of_open_alerts_in_one_update(agent, deliveries):
    """An alert already open whose condition still fires: the next pass sends nothing and moves the
    record's ``last_seen_at`` forward, with a single UPDATE for all the still-firing keys."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _monitor("a", agent=agent, conditions=[(Metric.ESCALATION_RATE, "above", 5, None, 2)])
    _monitor("b", agent=agent, conditions=[(Metric.ESCALATION_RATE, "above", 5, None, 3)])
    fill(agent, minutes=5, escalations=10)
    deliveries(evaluate_all, now=NOW)
    assert AlertRecord.objects.filter(resolved_at__isnull=True).count() == 2
    old = NOW - timedelta(hours=1)
    AlertRecord.objects.update(last_seen_at=old)
    sent = Notification.objects.count()
    with CaptureQueriesContext(connection) as queries:
        deliveries(evaluate_all, now=NOW)
    assert Notification.objects.count() == sent  # not notified again
    assert all(r.last_seen_at > old for r in AlertRecord.objects.all())
    updates = [q["sql"] for q in queries if 'UPDATE "registry_alertrecord"' in q["sql"]]
    assert len(updates) == 1


def test_a_monitor_deleted_while_the_pass_evaluates_it_opens_no_alert(agent, deliveries):
    """The pass read the monitor, then someone deleted it (resolving its alerts): evaluating the
    stale object takes the row lock, finds no row and opens nothing that no one would resolve."""
    monitor = _monitor(agent=agent, conditions=[(Metric.ESCALATION_RATE, "above", 5, None, 2)])
    fill(agent, minutes=5, escalations=10)
    Monitor.objects.filter(pk=monitor.pk).delete()
    assert deliveries(monitor_evaluate, monitor=monitor, now=NOW) is None
    assert not AlertRecord.objects.exists()
