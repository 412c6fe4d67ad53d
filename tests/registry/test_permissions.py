"""Every role against every registry view: allowed, 403, or sent to log in."""

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from registry.models import Agent
from registry.permissions import user_can_approve_for_agent, user_can_edit_agent
from tests.factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLE_FIXTURES = ["board_user", "approver_user", "owner_user", "operator_user", "executive_user", "auditor_user"]


def _edit_payload(agent, **overrides):
    data = {
        "name": agent.name,
        "purpose": agent.purpose,
        "unit_of_work": agent.unit_of_work,
        "kpi_name": agent.kpi_name,
        "owner_team": agent.owner_team.pk,
        "owner": agent.owner.pk,
        "risk_tier": agent.risk_tier,
        "status": agent.status,
        "data_classification": agent.data_classification,
        "success_threshold_pct": "92",
        "escalation_threshold_pct": "8",
        "monthly_budget_usd": "1000",
        "human_cost_per_minute_usd": "0.75",
        "human_minutes_per_unit": "8",
        "monthly_infra_cost_usd": "0",
        "monthly_ops_cost_usd": "0",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("url_name", ["registry:agent_list", "registry:agent_create", "home"])
def test_anonymous_is_sent_to_log_in(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_anonymous_is_sent_to_log_in_from_an_agent(client, agent):
    for name in ("registry:agent_detail", "registry:agent_edit", "registry:version_create"):
        response = client.get(reverse(name, args=[agent.slug]))
        assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("role", ROLE_FIXTURES)
def test_every_role_reads_the_registry_and_the_agent_card(client, request, agent, role):
    client.force_login(request.getfixturevalue(role))
    listing = client.get(reverse("registry:agent_list"))
    assert listing.status_code == 200 and agent.name in listing.content.decode()
    card = client.get(agent.get_absolute_url())
    assert card.status_code == 200 and agent.owner_team.name in card.content.decode()


def test_a_user_in_no_role_sees_no_agents(client, agent, outsider_user):
    client.force_login(outsider_user)
    assert agent.name not in client.get(reverse("registry:agent_list")).content.decode()
    assert client.get(agent.get_absolute_url()).status_code == 404


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("board_user", 200),
        ("owner_user", 200),
        ("approver_user", 403),
        ("operator_user", 403),
        ("executive_user", 403),
        ("auditor_user", 403),
        ("outsider_user", 403),
    ],
)
def test_registering_an_agent_needs_a_role_that_may(client, request, role, expected):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("registry:agent_create")).status_code == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("board_user", 200),
        ("owner_user", 200),
        ("other_owner_user", 403),
        ("approver_user", 403),
        ("operator_user", 403),
        ("executive_user", 403),
        ("auditor_user", 403),
    ],
)
def test_editing_an_agent_needs_global_or_per_agent_rights(client, request, agent, role, expected):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("registry:agent_edit", args=[agent.slug])).status_code == expected
    assert client.get(reverse("registry:version_create", args=[agent.slug])).status_code == expected


@pytest.mark.parametrize("role", ["other_owner_user", "executive_user", "auditor_user", "approver_user"])
def test_a_refused_edit_changes_nothing(client, request, agent, role):
    client.force_login(request.getfixturevalue(role))
    response = client.post(reverse("registry:agent_edit", args=[agent.slug]), _edit_payload(agent, name="Hijacked"))
    assert response.status_code == 403
    assert Agent.objects.get(pk=agent.pk).name == "Support Triage"


def test_the_owner_edits_their_agent(client, agent, owner_user):
    client.force_login(owner_user)
    response = client.post(reverse("registry:agent_edit", args=[agent.slug]), _edit_payload(agent, name="Renamed"))
    assert response.status_code == 302
    assert Agent.objects.get(pk=agent.pk).name == "Renamed"


def test_an_owner_edits_only_their_own_agents(owner_user, other_owner_user, agent):
    assert user_can_edit_agent(owner_user, agent)
    assert not user_can_edit_agent(other_owner_user, agent)


def test_changing_the_owner_moves_the_object_rights(client, board_user, agent, owner_user, other_owner_user):
    # Issue 13: the owner is governed; the change takes effect when its scope-change request is applied.
    from approvals.services import change_request_create, decision_record

    req = change_request_create(
        agent=agent,
        kind="scope_change",
        payload={"owner": other_owner_user.pk},
        requester=board_user,
        justification="The other team's owner takes over.",
    )
    for name in ("alice", "bob"):
        approver = UserFactory(username=name, roles=["Approver"])
        assign_perm("registry.approve_agent", approver)
        decision_record(
            request_id=req.pk, approver=approver, verdict="approve", reason="ok", payload_hash=req.payload_hash
        )
    agent.refresh_from_db()
    assert user_can_edit_agent(other_owner_user, agent)
    assert not user_can_edit_agent(UserFactory._meta.model.objects.get(pk=owner_user.pk), agent)


def test_an_approver_may_be_approver_for_some_agents_only(db, agent):
    per_agent = UserFactory(username="approver-it", roles=["Approver"])
    other = AgentFactory()
    assert not user_can_approve_for_agent(per_agent, agent)
    assign_perm("approve_agent", per_agent, agent)
    per_agent = UserFactory._meta.model.objects.get(pk=per_agent.pk)  # fresh permission cache
    assert user_can_approve_for_agent(per_agent, agent)
    assert not user_can_approve_for_agent(per_agent, other)


def test_a_global_approver_may_approve_for_every_agent(approver_user, agent):
    assert user_can_approve_for_agent(approver_user, agent)
    assert user_can_approve_for_agent(approver_user, AgentFactory())


@pytest.mark.parametrize("role", [*ROLE_FIXTURES, "outsider_user"])
def test_the_admin_is_for_staff_only(client, request, agent, role):
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse("admin:registry_agent_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_admin_lists_agents_for_a_superuser(client, agent):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    for name in (
        "agent",
        "agentversion",
        "tool",
        "toolgrant",
        "team",
        "scope",
        "review",
        "globalcontrols",
        "userapikey",
    ):
        response = client.get(reverse(f"admin:registry_{name}_changelist"))
        assert response.status_code == 200, name
    response = client.get(reverse("admin:registry_agent_changelist"), {"risk_tier__exact": "2", "q": "Support"})
    assert agent.name in response.content.decode()


def test_staff_without_model_permission_gets_403_in_the_admin(client, agent):
    staff = UserFactory(username="staff-exec", is_staff=True, roles=["Executive"])
    client.force_login(staff)
    assert client.get(reverse("admin:registry_agent_change", args=[agent.pk])).status_code == 200  # view only
    response = client.post(reverse("admin:registry_agent_change", args=[agent.pk]), {"name": "x"})
    assert response.status_code == 403
    assert client.get(reverse("admin:registry_agent_add")).status_code == 403


def test_the_agent_card_reads_a_users_object_permissions_once(client, owner_user, agent):
    """The card asks many questions of one user about one agent (edit, operate, approve, …); the
    user's and groups' object permissions are read once, not once per question (it was 18 times)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(owner_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("registry:agent_detail", kwargs={"slug": agent.slug}))
    assert response.status_code == 200
    reads = [q["sql"] for q in queries if "guardian_userobjectpermission" in q["sql"] and "SELECT" in q["sql"]]
    assert 1 <= len(reads) <= 2, reads  # the checker's user read (and its groups' read) for this agent
