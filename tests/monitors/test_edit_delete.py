"""Editing and deleting monitors and SLOs on the console: the same people as creating them (the
agent's owner, operators, the board), every other role refused; bad input is a 400 that changes
nothing; deleting resolves the open alert through ``notify`` (its channels hear it is over);
every change is on the audit log with its actor."""

from __future__ import annotations

from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from monitors.models import SLO, Monitor, MonitorCondition
from monitors.services import evaluate_all, monitor_evaluate, slo_evaluate
from registry.channel_models import AlertChannel, AlertRecord, Notification
from registry.channels import Alert, notify
from tests.factories import AgentFactory

from .conftest import NOW
from .test_views import _monitor_post

pytestmark = pytest.mark.django_db

ROLES = ["board", "approver", "owner", "operator", "executive", "auditor"]
MANAGERS = {"board", "owner", "operator"}


@pytest.fixture
def roles(board_user, approver_user, owner_user, operator_user, executive_user, auditor_user, agent):
    users = (board_user, approver_user, owner_user, operator_user, executive_user, auditor_user)
    return dict(zip(ROLES, users, strict=True))


@pytest.fixture
def monitor(agent):
    m = Monitor.objects.create(name="Errors", agent=agent)
    MonitorCondition.objects.create(monitor=m, metric="error_rate", window_minutes=10, alert_threshold=Decimal("5"))
    return m


@pytest.fixture
def slo(agent):
    return SLO.objects.create(agent=agent)


def _slo_post(agent, **over):
    data = {"agent": agent.pk, "channel": "", "availability_target": "99.5", "latency_threshold_ms": "5000"}
    return data | {"latency_target": "95", "period_days": "30"} | over


def _open_alert(key: str) -> AlertRecord:
    notify(Alert(kind="monitor", dedup_key=key, title="firing", severity="critical"))
    return AlertRecord.objects.get(dedup_key=key, resolved_at__isnull=True)


def _entries(obj, action):
    ct = ContentType.objects.get_for_model(type(obj))
    return LogEntry.objects.filter(content_type=ct, object_id=obj.pk, action=action)


def test_edit_pages_as_every_role(client, roles, monitor, slo):
    pages = [reverse("monitors:monitor_edit", args=[monitor.pk]), reverse("monitors:slo_edit", args=[slo.pk])]
    for name, user in roles.items():
        client.force_login(user)
        for url in pages:
            status = client.get(url).status_code
            assert status == (200 if name in MANAGERS else 403), (name, url, status)
        index = client.get(reverse("monitors:index")).content.decode()
        assert (pages[0] in index) == (name in MANAGERS), name


def test_only_managers_delete_and_refused_roles_change_nothing(client, roles, monitor, slo):
    for name in ROLES:
        if name in MANAGERS:
            continue
        client.force_login(roles[name])
        assert client.post(reverse("monitors:monitor_delete", args=[monitor.pk])).status_code == 403
        assert client.post(reverse("monitors:slo_delete", args=[slo.pk])).status_code == 403
        assert client.post(reverse("monitors:monitor_edit", args=[monitor.pk]), _monitor_post()).status_code == 403
    assert Monitor.objects.filter(pk=monitor.pk, name="Errors").exists() and SLO.objects.filter(pk=slo.pk).exists()
    client.force_login(roles["owner"])
    assert client.get(reverse("monitors:monitor_delete", args=[monitor.pk])).status_code == 405
    assert client.post(reverse("monitors:monitor_delete", args=[99999])).status_code == 404


def test_an_owner_cannot_edit_a_monitor_of_another_agent(client, owner_user, operator_user):
    other = AgentFactory()
    foreign = Monitor.objects.create(name="theirs", agent=other)
    client.force_login(owner_user)
    assert client.get(reverse("monitors:monitor_edit", args=[foreign.pk])).status_code == 403
    portfolio = Monitor.objects.create(name="all", scope="portfolio")
    assert client.post(reverse("monitors:monitor_delete", args=[portfolio.pk])).status_code == 403
    client.force_login(operator_user)
    assert client.post(reverse("monitors:monitor_delete", args=[portfolio.pk])).status_code == 302


def test_the_owner_edits_a_monitor_and_it_is_audited(client, owner_user, agent, monitor):
    client.force_login(owner_user)
    url = reverse("monitors:monitor_edit", args=[monitor.pk])
    assert 'value="Errors"' in client.get(url).content.decode()  # the form shows the monitor as it is
    post = _monitor_post(agent=agent.pk, name="Errors v2", metric_2="p95_latency_ms", comparator_2="above")
    response = client.post(url, post | {"window_2": "20", "alert_2": "8000"})
    assert response.status_code == 302
    monitor.refresh_from_db()
    assert monitor.name == "Errors v2" and monitor.conditions.count() == 2
    entry = _entries(monitor, LogEntry.Action.UPDATE).latest("timestamp")
    assert entry.actor == owner_user


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"window_1": "2"}, "greater than or equal to 5"),
        ({"alert_1": "lots"}, "Enter a number"),
        ({"scope": "portfolio"}, "governance board and operators"),
        ({"scope": "team"}, "Choose the team"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_bad_monitor_edit_is_a_400_and_changes_nothing(client, owner_user, agent, monitor, over, message):
    client.force_login(owner_user)
    response = client.post(reverse("monitors:monitor_edit", args=[monitor.pk]), _monitor_post(agent=agent.pk) | over)
    assert response.status_code == 400 and message in response.content.decode()
    monitor.refresh_from_db()
    assert (monitor.name, monitor.scope, monitor.conditions.get().window_minutes) == ("Errors", "agent", 10)


def test_bad_slo_edit_is_a_400_and_changes_nothing(client, board_user, agent, slo):
    SLO.objects.create(agent=agent, channel="chat")
    client.force_login(board_user)
    url = reverse("monitors:slo_edit", args=[slo.pk])
    for over, message in [
        ({"availability_target": "100"}, "less than or equal to 99.999"),
        ({"availability_target": "abc"}, "Enter a number"),
        ({"period_days": "31"}, "less than or equal to 30"),
        ({"channel": "chat"}, "already exists"),
    ]:
        response = client.post(url, _slo_post(agent, **over))
        assert response.status_code == 400 and message in response.content.decode(), over
    slo.refresh_from_db()
    assert (slo.availability_target, slo.channel, slo.period_days) == (Decimal("99.5"), "", 30)
    assert client.post(url, _slo_post(agent, availability_target="99.9")).status_code == 302
    slo.refresh_from_db()
    assert slo.availability_target == Decimal("99.9")
    assert _entries(slo, LogEntry.Action.UPDATE).latest("timestamp").actor == board_user


def test_deleting_a_monitor_resolves_its_open_alert_and_is_audited(
    client, owner_user, monitor, django_capture_on_commit_callbacks
):
    channel = AlertChannel.objects.create(name="hook", kind="slack", url="https://93.184.215.14/h", min_severity="info")
    record = _open_alert(f"monitor:{monitor.pk}:alert")
    other = _open_alert(f"monitor:{monitor.pk}0:alert")  # another monitor's key sharing the digits
    client.force_login(owner_user)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(reverse("monitors:monitor_delete", args=[monitor.pk])).status_code == 302
    assert not Monitor.objects.filter(pk=monitor.pk).exists()
    record.refresh_from_db(), other.refresh_from_db()
    assert record.resolved_at is not None and other.resolved_at is None
    assert Notification.objects.filter(alert=record, channel=channel, event="resolve").exists()
    assert _entries(monitor, LogEntry.Action.DELETE).get().actor == owner_user


def test_deleting_an_slo_resolves_its_open_alerts(client, operator_user, slo):
    records = [_open_alert(f"slo:{slo.pk}:availability:alert"), _open_alert(f"slo:{slo.pk}:latency:warning")]
    client.force_login(operator_user)
    assert client.post(reverse("monitors:slo_delete", args=[slo.pk])).status_code == 302
    assert not SLO.objects.exists()
    assert all(AlertRecord.objects.get(pk=r.pk).resolved_at is not None for r in records)
    assert _entries(slo, LogEntry.Action.DELETE).get().actor == operator_user


def test_pausing_a_monitor_resolves_its_alert_skips_it_and_resuming_brings_it_back(client, owner_user, monitor):
    """Paused from the index page: its open alert resolved, its level back to ok, the beat pass
    skips it (even one already under way: it re-reads ``is_active`` under the row lock), its
    definition kept; resumed, the next pass evaluates it again. Both audited with the actor."""
    record = _open_alert(f"monitor:{monitor.pk}:alert")
    Monitor.objects.filter(pk=monitor.pk).update(level="alert")
    client.force_login(owner_user)
    index = client.get(reverse("monitors:index")).content.decode()
    assert reverse("monitors:monitor_active", args=[monitor.pk]) in index and ">Pause<" in index
    response = client.post(reverse("monitors:monitor_active", args=[monitor.pk]), {"active": "0"}, follow=True)
    assert "paused: its open alerts are resolved" in response.content.decode()
    assert ">paused<" in response.content.decode() and ">Resume<" in response.content.decode()
    monitor.refresh_from_db(), record.refresh_from_db()
    assert (monitor.is_active, monitor.level, monitor.conditions.count()) == (False, "ok", 1)
    assert record.resolved_at is not None
    assert _entries(monitor, LogEntry.Action.UPDATE).latest("timestamp").actor == owner_user
    evaluate_all(now=NOW)
    assert Monitor.objects.get(pk=monitor.pk).evaluated_at is None  # skipped
    assert monitor_evaluate(monitor=monitor, now=NOW) is None  # a pass that read it before the pause
    assert client.post(reverse("monitors:monitor_active", args=[monitor.pk]), {"active": "1"}).status_code == 302
    evaluate_all(now=NOW)
    assert Monitor.objects.get(pk=monitor.pk).evaluated_at is not None


def test_pausing_an_slo_resolves_its_alerts(client, operator_user, slo):
    records = [_open_alert(f"slo:{slo.pk}:availability:alert"), _open_alert(f"slo:{slo.pk}:latency:warning")]
    client.force_login(operator_user)
    assert client.post(reverse("monitors:slo_active", args=[slo.pk]), {"active": "0"}).status_code == 302
    assert SLO.objects.get(pk=slo.pk).is_active is False
    assert all(AlertRecord.objects.get(pk=r.pk).resolved_at is not None for r in records)
    assert slo_evaluate(slo=slo, now=NOW) is None
    assert client.post(reverse("monitors:slo_active", args=[slo.pk]), {"active": "1"}).status_code == 302
    assert SLO.objects.get(pk=slo.pk).is_active is True


@pytest.mark.parametrize("value", ["", "yes", "2", "true"])
def test_a_bad_pause_choice_is_a_400_and_changes_nothing(client, board_user, monitor, slo, value):
    client.force_login(board_user)
    for url in (reverse("monitors:monitor_active", args=[monitor.pk]), reverse("monitors:slo_active", args=[slo.pk])):
        response = client.post(url, {"active": value} if value else {})
        assert response.status_code == 400 and "1 to resume, 0 to pause" in response.content.decode()
    assert Monitor.objects.get(pk=monitor.pk).is_active and SLO.objects.get(pk=slo.pk).is_active


def test_only_managers_pause(client, roles, monitor, slo):
    for name, user in roles.items():
        client.force_login(user)
        status = client.post(reverse("monitors:monitor_active", args=[monitor.pk]), {"active": "0"}).status_code
        assert status == (302 if name in MANAGERS else 403), name
        status = client.post(reverse("monitors:slo_active", args=[slo.pk]), {"active": "0"}).status_code
        assert status == (302 if name in MANAGERS else 403), name
        Monitor.objects.filter(pk=monitor.pk).update(is_active=True)
        SLO.objects.filter(pk=slo.pk).update(is_active=True)
    client.force_login(roles["owner"])
    assert client.get(reverse("monitors:monitor_active", args=[monitor.pk])).status_code == 405
    assert client.post(reverse("monitors:slo_active", args=[99999]), {"active": "0"}).status_code == 404
