"""The agent card offers "Re-enable side effects" only while side effects are off."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import Agent

pytestmark = pytest.mark.django_db


def _reenable_url(agent) -> str:
    return reverse("approvals:request_start", args=[agent.slug, "reenable_side_effects"])


def test_it_is_not_offered_while_side_effects_are_on(client, agent, owner_user):
    assert agent.side_effects_enabled
    client.force_login(owner_user)
    html = client.get(agent.get_absolute_url()).content.decode()
    assert "Tool grant or scope expansion" in html  # the owner is offered other changes
    assert _reenable_url(agent) not in html and "Re-enable side effects" not in html


def test_it_is_offered_once_side_effects_are_off(client, agent, owner_user):
    Agent.objects.filter(pk=agent.pk).update(side_effects_enabled=False)
    client.force_login(owner_user)
    html = client.get(agent.get_absolute_url()).content.decode()
    assert _reenable_url(agent) in html and "Re-enable side effects" in html
