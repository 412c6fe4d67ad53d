"""Overdue work: postmortem due dates, the once-a-day reminder e-mail, the home panel."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import Incident, OverdueReminder
from incidents.selectors import overdue_action_items, overdue_postmortems
from incidents.tasks import send_overdue_reminders
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def resolved_long_ago(open_incident, commander):
    incident = open_incident(severity="sev1", commander=commander, customer_impact="x", detection_source="monitoring")
    services.incident_update(incident_id=incident.pk, financial_impact_usd=0)
    services.incident_transition(incident_id=incident.pk, to_status="resolved", note="fixed")
    Incident.objects.filter(pk=incident.pk).update(resolved_at=timezone.now() - timedelta(hours=73))
    incident.refresh_from_db()
    return incident


def test_the_postmortem_is_due_72_hours_after_resolution(resolved_long_ago):
    assert resolved_long_ago.postmortem_due_at == resolved_long_ago.resolved_at + timedelta(hours=72)
    assert list(overdue_postmortems()) == [resolved_long_ago]
    Incident.objects.filter(pk=resolved_long_ago.pk).update(resolved_at=timezone.now() - timedelta(hours=71))
    assert list(overdue_postmortems()) == []


def test_a_published_postmortem_is_not_overdue(resolved_long_ago, commander):
    services.postmortem_save(incident_id=resolved_long_ago.pk, summary="s", impact="i", root_cause="r")
    services.postmortem_publish(incident_id=resolved_long_ago.pk, actor=commander)
    assert list(overdue_postmortems()) == []


def test_one_email_per_owner_per_day_however_often_the_task_runs(resolved_long_ago, commander):
    """GIVEN a commander owing an overdue postmortem and two overdue action items, and another
    owner owing one item WHEN the task runs three times THEN each gets exactly one e-mail
    listing all their work; the next day they get one more."""
    other = UserFactory(username="item-owner", email="owner@example.test")
    yesterday = timezone.localdate() - timedelta(days=1)
    for title, owner in [("Fix A", commander), ("Fix B", commander), ("Fix C", other)]:
        services.action_item_add(incident_id=resolved_long_ago.pk, title=title, owner=owner, due_on=yesterday)
    assert send_overdue_reminders() == 2
    assert send_overdue_reminders() == 0
    send_overdue_reminders()
    assert len(mail.outbox) == 2
    by_recipient = {m.to[0]: m for m in mail.outbox}
    body = by_recipient["commander@example.test"].body
    assert resolved_long_ago.reference in body and "Fix A" in body and "Fix B" in body and "Fix C" not in body
    assert "Fix C" in by_recipient["owner@example.test"].body
    assert OverdueReminder.objects.count() == 2

    tomorrow = timezone.now() + timedelta(days=1)
    assert services.overdue_reminders_send(now=tomorrow) == 2
    assert services.overdue_reminders_send(now=tomorrow) == 0
    assert len(mail.outbox) == 4


def test_nothing_overdue_sends_nothing(open_incident):
    open_incident(severity="sev3")
    assert send_overdue_reminders() == 0 and mail.outbox == []


def test_an_ownerless_overdue_item_goes_to_the_commander(resolved_long_ago, commander):
    services.postmortem_save(incident_id=resolved_long_ago.pk, summary="s", impact="i", root_cause="r")
    services.postmortem_publish(incident_id=resolved_long_ago.pk, actor=commander)
    services.action_item_add(
        incident_id=resolved_long_ago.pk, title="Nobody's yet", due_on=timezone.localdate() - timedelta(days=3)
    )
    assert send_overdue_reminders() == 1
    assert mail.outbox[0].to == ["commander@example.test"] and "no owner yet" in mail.outbox[0].body


def test_the_beat_schedule_exists():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="incidents.tasks.send_overdue_reminders")
    assert task.enabled and task.interval.every == 1 and task.interval.period == "hours"


def test_the_home_page_lists_overdue_postmortems_items_and_open_incidents(
    client, resolved_long_ago, commander, operator_user, executive_user, open_incident
):
    services.action_item_add(
        incident_id=resolved_long_ago.pk,
        title="Rotate the leaked key",
        owner=commander,
        due_on=timezone.localdate() - timedelta(days=1),
    )
    from tests.factories import AgentFactory

    open_incident(agent=AgentFactory(slug="second"), severity="sev3", title="Slow answers")
    client.force_login(executive_user)
    html = client.get(reverse("home")).content.decode()
    assert 'data-testid="home-incidents"' in html
    assert "Rotate the leaked key" in html
    assert f"{resolved_long_ago.reference} {resolved_long_ago.title}" in html
    assert "Slow answers" in html
    assert len(overdue_action_items()) == 1
