"""The kill switch: one click for operators, read-only for others, visible to the agent on its
very next controls call, an incident always, and re-enabling only under the two-person rule."""

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from incidents import services
from incidents.choices import TimelineKind
from incidents.models import Incident
from registry.models import Agent, GlobalControls
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _pull(client, agent, reason="Refunds sent twice", **extra):
    return client.post(reverse("incidents:kill_switch", args=[agent.slug]), {"reason": reason, **extra})


def test_the_next_controls_call_reports_side_effects_disabled(client, agent, agent_client, operator_user):
    """GIVEN an agent polling /api/v1/controls/ with an ETag WHEN an operator pulls its kill switch
    THEN the very next call (same ETag) answers 200 with side effects disabled, and an incident exists."""
    url = reverse("telemetry-controls")
    before = agent_client.get(url)
    assert before.status_code == 200 and before.json()["side_effects_enabled"] is True
    etag = before["ETag"]
    assert agent_client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304

    client.force_login(operator_user)
    response = _pull(client, agent, failure_mode="policy_violation")
    assert response.status_code == 302

    after = agent_client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert after.status_code == 200
    assert after.json()["side_effects_enabled"] is False
    incident = Incident.objects.get(agent=agent)
    assert incident.severity == "sev2" and incident.status == "open" and incident.commander == operator_user
    assert incident.failure_mode == "policy_violation"
    assert incident.timeline.filter(kind=TimelineKind.KILL_SWITCH, note__contains="Refunds sent twice").exists()


def test_the_switch_is_in_the_audit_trail_with_who_pulled_it(client, agent, operator_user):
    client.force_login(operator_user)
    _pull(client, agent)
    entry = LogEntry.objects.get_for_object(Agent.objects.get(pk=agent.pk)).filter(actor=operator_user).first()
    assert entry is not None and "side_effects_enabled" in entry.changes_dict


def test_pulling_links_the_agents_active_incident(agent, operator_user, open_incident):
    existing = open_incident(severity="sev3")
    incident, created = services.kill_switch_pull(agent=agent, actor=operator_user, reason="loop")
    assert not created and incident.pk == existing.pk
    existing.refresh_from_db()
    assert existing.severity == "sev2"  # raised: a pulled switch is at least degraded service
    assert Incident.objects.filter(agent=agent).count() == 1


def test_a_reason_is_required_and_without_one_nothing_changes(client, agent, operator_user):
    client.force_login(operator_user)
    response = _pull(client, agent, reason="   ")
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.side_effects_enabled is True and not Incident.objects.exists()
    page = client.get(agent.get_absolute_url())
    assert "Kill switch not pulled" in page.content.decode()


@pytest.mark.parametrize("role", ["executive_user", "auditor_user", "approver_user", "owner_user", "outsider_user"])
def test_only_operators_pull_the_kill_switch(client, request, agent, role):
    client.force_login(request.getfixturevalue(role))
    response = _pull(client, agent)
    assert response.status_code in (403, 404)
    agent.refresh_from_db()
    assert agent.side_effects_enabled is True and not Incident.objects.exists()
    with pytest.raises(PermissionDenied):
        services.kill_switch_pull(agent=agent, actor=request.getfixturevalue(role), reason="x")


def test_an_admin_may_pull_it(client, agent):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    assert _pull(client, agent).status_code == 302
    agent.refresh_from_db()
    assert agent.side_effects_enabled is False


def test_a_per_agent_operator_may_pull_only_that_agents_switch(client, agent):
    from guardian.shortcuts import assign_perm

    from registry import roles
    from tests.factories import AgentFactory

    other = AgentFactory(slug="other")
    user = UserFactory(username="oncall", roles=[roles.APPROVER])
    assign_perm("registry.operate_agent", user, agent)
    client.force_login(user)
    assert _pull(client, agent).status_code == 302
    assert _pull(client, other).status_code == 403
    other.refresh_from_db()
    assert other.side_effects_enabled is True


@pytest.mark.parametrize("role", ["executive_user", "auditor_user"])
def test_executives_and_auditors_see_the_card_without_the_switch(client, request, agent, role):
    client.force_login(request.getfixturevalue(role))
    html = client.get(agent.get_absolute_url()).content.decode()
    assert 'data-testid="agent-incidents"' in html and 'data-testid="kill-switch-form"' not in html


def test_operators_see_the_switch_on_the_agent_card(client, agent, operator_user):
    client.force_login(operator_user)
    html = client.get(agent.get_absolute_url()).content.decode()
    assert 'data-testid="kill-switch-form"' in html


def test_the_fleet_switch_disables_every_agent_and_opens_a_fleet_incident(client, agent, agent_client, operator_user):
    url = reverse("telemetry-controls")
    etag = agent_client.get(url)["ETag"]
    client.force_login(operator_user)
    response = client.post(reverse("incidents:fleet_kill_switch"), {"reason": "Provider compromised"})
    assert response.status_code == 302
    after = agent_client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert after.status_code == 200 and after.json()["side_effects_enabled"] is False
    controls = GlobalControls.load()
    assert not controls.side_effects_enabled and controls.changed_by == operator_user
    incident = Incident.objects.get(fleet_wide=True)
    assert incident.severity == "sev2" and incident.agent is None
    # pulling again links the same fleet incident
    client.post(reverse("incidents:fleet_kill_switch"), {"reason": "still"})
    assert Incident.objects.filter(fleet_wide=True).count() == 1


@pytest.mark.parametrize("role", ["executive_user", "auditor_user", "owner_user", "board_user"])
def test_only_operators_pull_the_fleet_switch(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.post(reverse("incidents:fleet_kill_switch"), {"reason": "x"}).status_code == 403
    assert GlobalControls.load().side_effects_enabled is True and not Incident.objects.exists()


def test_the_fleet_switch_needs_a_reason(client, operator_user):
    client.force_login(operator_user)
    response = client.post(reverse("incidents:fleet_kill_switch"), {"reason": ""})
    assert response.status_code == 400 and "required" in response.content.decode()
    assert GlobalControls.load().side_effects_enabled is True


# --- re-enabling -------------------------------------------------------------------------------


@pytest.fixture
def killed(agent, operator_user):
    incident, _ = services.kill_switch_pull(agent=agent, actor=operator_user, reason="bad refunds")
    return incident


def test_re_enabling_is_a_change_request_not_a_switch(client, agent, killed, operator_user):
    from approvals.models import ApprovalRequest

    client.force_login(operator_user)
    response = client.post(reverse("incidents:reenable_request", args=[agent.slug]), {"justification": "Fixed"})
    assert response.status_code == 302
    req = ApprovalRequest.objects.get(agent=agent, kind="reenable_side_effects")
    assert req.requester == operator_user and req.status == "pending"
    agent.refresh_from_db()
    assert agent.side_effects_enabled is False
    assert killed.timeline.filter(kind=TimelineKind.REENABLE, note__contains=f"#{req.pk}").exists()


def test_re_enabling_needs_two_distinct_approvers_who_are_not_the_requester(agent, killed, operator_user, agent_client):
    """GIVEN a pulled switch and a re-enable request by the operator WHEN the requester tries to
    approve THEN it is refused; one approval is not enough; the second distinct approver turns
    side effects back on, and the agent's next controls call says so."""
    from guardian.shortcuts import assign_perm

    from approvals.exceptions import DecisionRefused
    from approvals.services import decision_record
    from registry import roles

    assign_perm("registry.approve_agent", operator_user)  # even an operator who may approve...
    req = services.side_effects_reenable_request(agent=agent, requester=operator_user, justification="Patched")
    with pytest.raises(DecisionRefused):
        decision_record(
            request_id=req.pk, approver=operator_user, verdict="approve", reason="mine", payload_hash=req.payload_hash
        )
    first = UserFactory(username="appr1", roles=[roles.APPROVER])
    second = UserFactory(username="appr2", roles=[roles.APPROVER])
    assign_perm("registry.approve_agent", first)
    assign_perm("registry.approve_agent", second)
    decision_record(request_id=req.pk, approver=first, verdict="approve", reason="ok", payload_hash=req.payload_hash)
    agent.refresh_from_db()
    assert agent.side_effects_enabled is False
    with pytest.raises(DecisionRefused):
        decision_record(
            request_id=req.pk, approver=first, verdict="approve", reason="again", payload_hash=req.payload_hash
        )
    agent.refresh_from_db()
    assert agent.side_effects_enabled is False
    decision_record(request_id=req.pk, approver=second, verdict="approve", reason="ok", payload_hash=req.payload_hash)
    agent.refresh_from_db()
    assert agent.side_effects_enabled is True
    assert agent_client.get(reverse("telemetry-controls")).json()["side_effects_enabled"] is True


def test_re_enable_needs_a_justification_and_a_switched_off_agent(agent, operator_user):
    with pytest.raises(ValidationError, match="already enabled"):
        services.side_effects_reenable_request(agent=agent, requester=operator_user, justification="why")
    services.kill_switch_pull(agent=agent, actor=operator_user, reason="r")
    with pytest.raises(ValidationError):
        services.side_effects_reenable_request(agent=agent, requester=operator_user, justification=" ")


@pytest.mark.parametrize("role", ["executive_user", "auditor_user"])
def test_executives_and_auditors_cannot_request_re_enabling(client, request, agent, killed, role):
    from approvals.models import ApprovalRequest

    client.force_login(request.getfixturevalue(role))
    response = client.post(reverse("incidents:reenable_request", args=[agent.slug]), {"justification": "x"})
    assert response.status_code == 403 and not ApprovalRequest.objects.exists()
