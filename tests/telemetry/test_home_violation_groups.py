"""The home page groups near-identical compliance lines: one per agent and rule, with a count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry.choices import ViolationKind
from telemetry.models import ComplianceViolation

pytestmark = pytest.mark.django_db


def _violation(agent, kind, hour, runs=1, version_key="9.9"):
    return ComplianceViolation.objects.create(
        agent=agent,
        version_key=version_key,
        kind=kind,
        hour=hour,
        detail=f"Version {version_key} is not registered",
        first_run_id=f"run-{hour:%H}-{kind}",
        run_count=runs,
    )


def test_it_groups_hourly_violations_of_one_rule_into_one_line(client, board_user, agent):
    """GIVEN one agent reporting an unapproved version in three hours and an ungranted tool once
    WHEN the board opens the home page THEN it reads two lines, the first counting three hours."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    for offset, runs in ((0, 4), (1, 2), (2, 1)):
        _violation(agent, ViolationKind.UNAPPROVED_VERSION, hour + timedelta(hours=offset), runs=runs)
    _violation(agent, ViolationKind.UNGRANTED_TOOL, hour)
    client.force_login(board_user)

    html = client.get("/").content.decode()

    assert html.count('data-testid="violation-group"') == 2
    assert html.count("Unapproved version") == 1
    assert "×3</span>" in html and "(7 runs," in html
    assert "Tool not granted to the version" in html and "(1 run," in html
    assert html.count('data-testid="violation-group-count"') == 1  # a single hour needs no count


def test_it_keeps_agents_apart(client, board_user, agent):
    from tests.factories import AgentFactory

    other = AgentFactory(slug="billing-bot", name="Billing Bot", owner_team=agent.owner_team)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    _violation(agent, ViolationKind.MODEL_MISMATCH, hour)
    _violation(other, ViolationKind.MODEL_MISMATCH, hour)
    client.force_login(board_user)

    html = client.get("/").content.decode()

    assert html.count('data-testid="violation-group"') == 2
    assert "Support Triage" in html and "Billing Bot" in html
