"""Stored values are shown as words: no ``{'max_per_hour': 20}``, ``None`` or ``True`` in the UI."""

from __future__ import annotations

from decimal import Decimal

import pytest
from auditlog.models import LogEntry

from registry.templatetags.value_words import words
from tests.factories import AgentVersionFactory, ToolFactory, ToolGrantFactory


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"max_per_hour": 20}, "max_per_hour: 20"),
        ({"max_amount_usd": 50, "currencies": ["EUR", "USD"]}, "max_amount_usd: 50; currencies: EUR, USD"),
        ({"limits": {"daily": 3}}, "limits: (daily: 3)"),
        (None, "none"),
        (True, "yes"),
        (False, "no"),
        ([], "none"),
        ({}, "none"),
        ("", "none"),
        (Decimal("12.50"), "12.50"),
        (0.5, "0.5"),
        # what django-auditlog and the diff rows store: the str() or JSON of the value
        ("{'max_per_hour': 20}", "max_per_hour: 20"),
        ('{"max_per_hour": 20}', "max_per_hour: 20"),
        ("None", "none"),
        ("True", "yes"),
        ("['kb.search', 'payments.refund']", "kb.search, payments.refund"),
        # text people wrote stays as it is
        ("[redacted]", "[redacted]"),
        ("Refund {order} please", "Refund {order} please"),
        ("payments.refund", "payments.refund"),
    ],
)
def test_it_renders_values_as_words(value, expected):
    assert words(value) == expected


def test_it_escapes_what_it_renders(client):
    from django.template import engines

    html = engines["django"].from_string("{% load value_words %}{{ v|in_words }}").render({"v": {"a": "<b>"}})
    assert html == "a: &lt;b&gt;"


@pytest.mark.django_db
def test_the_agent_card_shows_constraints_and_history_in_words(client, owner_user, agent):
    from registry.choices import VersionState

    version = AgentVersionFactory(agent=agent, label="2.0")
    ToolGrantFactory(version=version, tool=ToolFactory(name="crm.update"), constraints={"max_per_hour": 20})
    version.state = VersionState.DEPLOYED
    version.save()
    entry = LogEntry.objects.log_create(agent, action=LogEntry.Action.UPDATE, changes={"purpose": ["None", "Triage"]})
    assert entry is not None
    client.force_login(owner_user)

    html = client.get(agent.get_absolute_url()).content.decode()

    assert "max_per_hour: 20" in html
    assert "{&#x27;" not in html and "{&quot;" not in html
    assert "“none” → “Triage”" in html and "“None”" not in html


@pytest.mark.django_db
def test_the_request_page_shows_the_payload_in_words(client, agent, owner_user):
    from approvals.services import change_request_create
    from registry.choices import VersionState
    from tests.factories import UserFactory

    deployed = AgentVersionFactory(agent=agent, label="1.0")
    deployed.state = VersionState.DEPLOYED
    deployed.save()
    ToolFactory(name="payments.refund", action_tier=3)
    req = change_request_create(
        agent=agent,
        kind="tool_grant",
        payload={"tool": "payments.refund", "constraints": {"max_amount_usd": 50}},
        requester=owner_user,
        justification="Refunds under 50 USD.",
    )
    client.force_login(UserFactory(username="root", is_superuser=True))

    html = client.get(req.get_absolute_url()).content.decode()

    assert "constraints: max_amount_usd: 50" in html  # the exact payload
    assert "max_amount_usd: 50</ins>" in html  # the diff's JSON
    assert "{&#x27;max_amount_usd" not in html and "{&quot;max_amount_usd" not in html
