from __future__ import annotations

import pytest

from registry.demo import seed_registry
from telemetry.demo import DIP_AGENT, seed_telemetry
from telemetry.models import ComplianceViolation, Run


@pytest.mark.django_db
def test_the_demo_seeds_months_of_runs_idempotently_with_a_visible_dip():
    from datetime import timedelta

    from django.utils import timezone

    seed_registry()
    # One clock for both seeds: today's runs younger than two minutes are left for a later seed, so
    # on a loaded machine a second seed a minute later rightly adds the ones that have come of age.
    now = timezone.now()
    created = seed_telemetry(now=now)
    assert created > 20_000
    assert seed_telemetry(now=now) == 0
    assert Run.objects.count() == created
    dip = Run.objects.filter(
        agent__slug=DIP_AGENT, started_at__range=(now - timedelta(days=21), now - timedelta(days=14))
    )
    before = Run.objects.filter(
        agent__slug=DIP_AGENT, started_at__range=(now - timedelta(days=60), now - timedelta(days=30))
    )
    rate = lambda qs: qs.filter(outcome="resolved").count() / qs.count()  # noqa: E731
    assert rate(dip) < rate(before) - 0.1
    weekday = Run.objects.filter(started_at__week_day__in=[2, 3, 4, 5, 6]).count() / 5
    weekend = Run.objects.filter(started_at__week_day__in=[1, 7]).count() / 2
    assert weekend < weekday * 0.6
    assert Run.objects.filter(outcome="escalated").exclude(reason="").exists()
    assert ComplianceViolation.objects.filter(kind="unapproved_version").exists()
    assert ComplianceViolation.objects.filter(kind="ungranted_tool").exists()
