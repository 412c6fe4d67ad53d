"""Issue 20 item 5: an agent whose owner or sponsor is deactivated is orphaned: flagged on its card
and on the home page, and one review is opened — once, however often the account is saved."""

from __future__ import annotations

import pytest

from registry import roles
from registry.choices import ReviewKind
from registry.models import Review
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_deactivating_the_owner_orphans_the_agent_once(client, agent, owner_user):
    board = UserFactory(username="board-viewer", roles=[roles.GOVERNANCE_BOARD])
    client.force_login(board)
    assert 'data-testid="home-orphaned"' not in client.get("/").content.decode()
    assert 'data-testid="agent-orphaned"' not in client.get(agent.get_absolute_url()).content.decode()
    assert not Review.objects.filter(kind=ReviewKind.ORPHANED).exists()

    owner_user.is_active = False
    owner_user.save()
    owner_user.save()  # saved again (e.g. edited in the admin): still one review
    reviews = Review.objects.filter(agent=agent, kind=ReviewKind.ORPHANED)
    assert reviews.count() == 1 and "owner" in reviews.get().reason

    home = client.get("/").content.decode()
    assert 'data-testid="home-orphaned"' in home and agent.name in home and "no longer active" in home
    card = client.get(agent.get_absolute_url()).content.decode()
    assert 'data-testid="agent-orphaned"' in card and 'data-testid="orphaned-review"' in card


def test_an_inactive_sponsor_orphans_too_and_a_new_owner_clears_the_flag(client, agent, owner_user):
    sponsor = UserFactory(username="sponsor")
    agent.sponsor = sponsor
    agent.save()
    sponsor.is_active = False
    sponsor.save()
    assert Review.objects.filter(agent=agent, kind=ReviewKind.ORPHANED).count() == 1
    client.force_login(owner_user)
    assert "Its sponsor" in client.get(agent.get_absolute_url()).content.decode()
    agent.sponsor = None
    agent.save()
    assert 'data-testid="agent-orphaned"' not in client.get(agent.get_absolute_url()).content.decode()
