"""The demo incidents: realistic and idempotent."""

import pytest

from incidents.demo import seed_incidents
from incidents.models import ActionItem, Incident, TimelineEntry
from incidents.selectors import overdue_action_items
from registry.demo import seed_registry
from registry.models import Agent

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_incidents_once():
    seed_registry()
    seed_incidents()
    counts = (Incident.objects.count(), ActionItem.objects.count(), TimelineEntry.objects.count())
    seed_incidents()
    assert (Incident.objects.count(), ActionItem.objects.count(), TimelineEntry.objects.count()) == counts

    churn = Agent.objects.get(slug="churn-outreach")
    assert churn.side_effects_enabled is False
    (active,) = Incident.objects.filter(status__in=["open", "mitigated"])
    assert active.agent == churn and active.severity == "sev2"
    closed = Incident.objects.filter(status="closed")
    assert closed.count() == 2 and all(i.postmortem.is_published for i in closed)
    assert overdue_action_items().count() == 1
    assert all(i.time_to_resolve and i.time_to_resolve.total_seconds() > 3600 for i in closed)
