"""Issue 13, item 6: people and rights are audited with the acting user, and shown (the agent
card's history for per-agent rights, the admin user page for people). Item 4's admin doors: the
fleet switch and an agent's side-effect switch cannot be changed in the Django admin, by a
superuser either."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm

from registry.audit import acting_as
from registry.models import Agent, GlobalControls
from registry.selectors import agent_history
from registry.services import global_controls_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def _person_entries(user):
    return LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(user), object_id=user.pk)


def test_joining_and_leaving_a_role_is_recorded_with_the_actor_from_either_side(board_user):
    person = UserFactory(username="pat")
    approvers, _ = Group.objects.get_or_create(name="Approver")
    with acting_as(board_user):
        person.groups.add(approvers)
    entry = _person_entries(person).latest("timestamp")
    assert entry.actor == board_user
    assert entry.changes["groups"]["operation"] == "add" and "Approver" in entry.changes["groups"]["objects"]
    with acting_as(board_user):
        approvers.user_set.remove(person)  # from the role's side
    group_entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Group), object_id=approvers.pk
    )
    group_entry = group_entries.get(changes__groups__operation="delete")
    assert group_entry.actor == board_user


def test_activation_and_the_superuser_flag_are_recorded_with_the_actor(board_user):
    person = UserFactory(username="pat")
    with acting_as(board_user):
        person.is_superuser = True
        person.is_active = False
        person.save()
    entry = _person_entries(person).latest("timestamp")
    assert entry.actor == board_user
    assert set(entry.changes) >= {"is_superuser", "is_active"}
    assert "password" not in entry.changes


def test_object_permission_grants_and_revocations_are_recorded_and_shown_on_the_agent_card(agent, board_user):
    person = UserFactory(username="pat", first_name="Pat", last_name="Lee")
    with acting_as(board_user):
        assign_perm("approve_agent", person, agent)
        remove_perm("approve_agent", person, agent)
    ct = ContentType.objects.get_for_model(UserObjectPermission)
    entries = LogEntry.objects.filter(content_type=ct, object_repr__contains="approve_agent").order_by("timestamp")
    assert [e.action for e in entries] == [LogEntry.Action.CREATE, LogEntry.Action.DELETE]
    assert all(e.actor == board_user for e in entries)
    sentences = [line.sentence for line in agent_history(agent)]
    assert any("created" in s and "approve_agent" in s and "pat" in s for s in sentences), sentences
    assert any("deleted" in s and "approve_agent" in s for s in sentences), sentences
    # Rights on another agent of the same name stay on that agent's card.
    other = Agent.objects.create(
        slug="other", name=agent.name, purpose="x", unit_of_work="x", kpi_name="x",
        owner_team=agent.owner_team, owner=agent.owner,
    )  # fmt: skip
    assert not any("approve_agent" in line.sentence for line in agent_history(other))


def test_the_admin_user_page_shows_the_persons_rights_history(client, superuser, agent):
    person = UserFactory(username="pat")
    with acting_as(superuser):
        person.groups.add(Group.objects.get_or_create(name="Approver")[0])
        assign_perm("approve_agent", person, agent)
    client.force_login(superuser)
    html = client.get(f"/admin/auth/user/{person.pk}/change/").content.decode()
    assert 'data-testid="rights-history"' in html
    assert "Approver" in html
    assert "approve_agent" in html


def test_a_superuser_cannot_turn_the_fleet_switch_back_on_in_the_admin(client, superuser, operator_user):
    global_controls_set(side_effects_enabled=False, actor=operator_user, reason="incident")
    client.force_login(superuser)
    url = "/admin/registry/globalcontrols/1/change/"
    response = client.post(url, {"side_effects_enabled": "on", "reason": "back on"})
    assert response.status_code in (302, 403) or "side_effects_enabled" not in response.content.decode()
    assert GlobalControls.load().side_effects_enabled is False


def test_a_superuser_cannot_turn_an_agents_side_effects_back_on_in_the_admin(client, superuser, agent):
    Agent.objects.filter(pk=agent.pk).update(side_effects_enabled=False)
    client.force_login(superuser)
    page = client.get(f"/admin/registry/agent/{agent.pk}/change/").content.decode()
    assert 'name="side_effects_enabled"' not in page
