"""Issue 13, item 1: the side doors an attacker with a demo login found, each closed.

An agent owner lowered the risk tier and moved the lifecycle status in the ordinary edit form,
registered a new agent directly in production and reset the review clock; a superuser changed
the same fields (and a tool's action tier) in the Django admin. Each now leaves the field as it
was, and the form offers the matching change request with the proposed value instead."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from approvals.models import ApprovalRequest
from approvals.services import change_request_create, decision_record
from registry.models import Agent, Scope, Tool
from tests.factories import AgentVersionFactory, ToolFactory, UserFactory
from tests.registry.test_forms import VALID_NEW
from tests.registry.test_permissions import _edit_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def tier1_pilot(agent):
    agent.risk_tier = 1
    agent.status = "pilot"
    agent.monthly_budget_usd = Decimal("1000")
    agent.save()
    return agent


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def _approvers():
    """An approver and a governance-board member outside the owning team (what tier 1 needs)."""
    from guardian.shortcuts import assign_perm

    approver = UserFactory(username="appr", roles=["Approver"])
    assign_perm("registry.approve_agent", approver)
    return [approver, UserFactory(username="board-outside", roles=["Governance board"])]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("risk_tier", 3),
        ("status", "production"),
        ("status", "retired"),
        ("monthly_budget_usd", "1000000"),
        ("success_threshold_pct", "1"),
        ("data_classification", "public"),
    ],
)
def test_the_owner_cannot_change_a_governed_field_in_the_edit_form(client, owner_user, tier1_pilot, field, value):
    before = getattr(Agent.objects.get(pk=tier1_pilot.pk), field)
    client.force_login(owner_user)
    response = client.post(
        reverse("registry:agent_edit", args=[tier1_pilot.slug]), _edit_payload(tier1_pilot, **{field: value})
    )
    assert response.status_code == 302
    assert getattr(Agent.objects.get(pk=tier1_pilot.pk), field) == before
    assert not ApprovalRequest.objects.exists()  # offered, not started behind the owner's back


def test_the_edit_form_offers_the_request_with_the_proposed_value_in_one_click(client, owner_user, tier1_pilot):
    client.force_login(owner_user)
    response = client.post(
        reverse("registry:agent_edit", args=[tier1_pilot.slug]),
        _edit_payload(tier1_pilot, risk_tier=3, purpose="Now only reads."),
    )
    tier1_pilot.refresh_from_db()
    assert tier1_pilot.purpose == "Now only reads." and tier1_pilot.risk_tier == 1  # descriptive saved, tier not
    assert response["Location"] == reverse("approvals:request_start", args=[tier1_pilot.slug, "tier_change"]) + (
        "?risk_tier=3"
    )
    form_page = client.get(response["Location"]).content.decode()
    assert '<option value="3" selected>' in form_page
    created = client.post(response["Location"], {"risk_tier": "3", "justification": "It only reads now."})
    req = ApprovalRequest.objects.get(kind="tier_change")
    assert created.status_code == 302 and req.payload["risk_tier"] == 3
    assert req.policy_snapshot["required_approvals"] >= 2  # lowering from tier 1: two people


def test_the_edit_form_shows_governed_fields_read_only_with_a_request_link(client, owner_user, tier1_pilot):
    client.force_login(owner_user)
    page = client.get(reverse("registry:agent_edit", args=[tier1_pilot.slug])).content.decode()
    for field, kind in [("risk_tier", "tier_change"), ("status", "status_change"), ("sponsor", "scope_change")]:
        assert f'data-governed="{field}"' in page
        assert reverse("approvals:request_start", args=[tier1_pilot.slug, kind]) in page
    assert 'name="risk_tier" class="form-select" disabled' in page or 'disabled id="id_risk_tier"' in page
    assert "last_reviewed_on" not in page


def test_a_new_agent_cannot_be_registered_directly_in_production(client, board_user, team, owner_user):
    client.force_login(board_user)
    payload = {**VALID_NEW, "owner_team": team.pk, "owner": owner_user.pk, "status": "production"}
    response = client.post(reverse("registry:agent_create"), payload)
    assert response.status_code == 302
    assert Agent.objects.get(slug="fresh-agent").status == "proposed"


def test_the_owner_cannot_reset_the_review_clock(client, owner_user, tier1_pilot):
    client.force_login(owner_user)
    client.post(
        reverse("registry:agent_edit", args=[tier1_pilot.slug]),
        _edit_payload(tier1_pilot, last_reviewed_on="2026-11-30"),
    )
    assert Agent.objects.get(pk=tier1_pilot.pk).last_reviewed_on is None


def test_the_owner_cannot_widen_the_data_scope_in_the_edit_form(client, owner_user, tier1_pilot):
    crm = Scope.objects.create(name="CRM", kind="system")
    client.force_login(owner_user)
    client.post(reverse("registry:agent_edit", args=[tier1_pilot.slug]), _edit_payload(tier1_pilot, systems=[crm.pk]))
    assert not tier1_pilot.systems.exists()


def test_a_scope_change_applies_only_after_two_other_people_approve(tier1_pilot, owner_user):
    req = change_request_create(
        agent=tier1_pilot,
        kind="scope_change",
        payload={"monthly_budget_usd": "5000", "data_classification": "internal"},
        requester=owner_user,
        justification="More traffic.",
    )
    assert set(req.payload["changes"]) == {"monthly_budget_usd"}  # unchanged values are dropped
    first, second = _approvers()
    decision_record(request_id=req.pk, approver=first, verdict="approve", reason="ok", payload_hash=req.payload_hash)
    assert Agent.objects.get(pk=tier1_pilot.pk).monthly_budget_usd == Decimal("1000")
    decision_record(request_id=req.pk, approver=second, verdict="approve", reason="ok", payload_hash=req.payload_hash)
    assert Agent.objects.get(pk=tier1_pilot.pk).monthly_budget_usd == Decimal("5000")


def test_a_status_change_needs_two_approvers_and_never_revives_a_retired_agent(tier1_pilot, owner_user):
    from django.core.exceptions import ValidationError

    AgentVersionFactory(agent=tier1_pilot, state="deployed")
    req = change_request_create(
        agent=tier1_pilot,
        kind="status_change",
        payload={"status": "production"},
        requester=owner_user,
        justification="Pilot done.",
    )
    assert req.policy_snapshot["required_approvals"] >= 2
    for approver in _approvers():
        decision_record(
            request_id=req.pk, approver=approver, verdict="approve", reason="ok", payload_hash=req.payload_hash
        )
    assert Agent.objects.get(pk=tier1_pilot.pk).status == "production"
    Agent.objects.filter(pk=tier1_pilot.pk).update(status="retired")
    with pytest.raises(ValidationError, match="retired"):
        change_request_create(
            agent=Agent.objects.get(pk=tier1_pilot.pk),
            kind="status_change",
            payload={"status": "production"},
            requester=owner_user,
            justification="Back.",
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [("risk_tier", "3"), ("status", "production"), ("side_effects_enabled", "on"), ("last_reviewed_on", "2026-11-30")],
)
def test_a_superuser_cannot_change_a_governed_agent_field_in_the_admin(client, root, tier1_pilot, field, value):
    Agent.objects.filter(pk=tier1_pilot.pk).update(side_effects_enabled=False)
    before = Agent.objects.filter(pk=tier1_pilot.pk).values(field).get()[field]
    client.force_login(root)
    url = reverse("admin:registry_agent_change", args=[tier1_pilot.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data = {k: ([str(x) for x in v] if isinstance(v, list | tuple) else v) for k, v in data.items()}
    data.update({"versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0", field: value, "_save": "Save"})
    client.post(url, data)
    assert Agent.objects.filter(pk=tier1_pilot.pk).values(field).get()[field] == before


def test_a_superuser_cannot_lower_a_tool_action_tier_in_the_admin(client, root):
    tool = ToolFactory(name="payments.refund", action_tier=3)
    client.force_login(root)
    url = reverse("admin:registry_tool_change", args=[tool.pk])
    client.post(url, {"name": tool.name, "system": tool.system, "action_tier": "0", "_save": "Save"})
    assert Tool.objects.get(pk=tool.pk).action_tier == 3


def test_review_dates_are_derived_not_typed(tier1_pilot):
    from registry.forms import AgentForm

    assert "last_reviewed_on" not in AgentForm(instance=tier1_pilot).fields
    assert "status" not in AgentForm().fields
    assert tier1_pilot.next_review_due is None and tier1_pilot.last_reviewed_on != date(2026, 11, 30)


def test_the_scope_request_form_is_prefilled_and_asks_only_for_what_changes(client, owner_user, tier1_pilot):
    from tests.test_governed_doors import _scrape

    crm = Scope.objects.create(name="CRM", kind="system")
    client.force_login(owner_user)
    edited = client.post(
        reverse("registry:agent_edit", args=[tier1_pilot.slug]),
        _edit_payload(tier1_pilot, monthly_budget_usd="5000", systems=[crm.pk]),
    )
    url = edited["Location"]
    assert url.startswith(reverse("approvals:request_start", args=[tier1_pilot.slug, "scope_change"]))
    (action, data), *_ = [f for f in _scrape(client.get(url).content.decode()) if "justification" in f[1]]
    assert data["monthly_budget_usd"] == ["5000.00"] and data["systems"] == [str(crm.pk)]
    data["justification"] = ["More traffic, and the CRM."]
    response = client.post(url.split("?")[0], data)
    assert response.status_code == 302, response.content.decode()[:3000]
    req = ApprovalRequest.objects.get(kind="scope_change")
    assert req.payload["changes"] == {
        "monthly_budget_usd": {"from": "1000.00", "to": "5000.00"},
        "systems": {"from": [], "to": [crm.pk]},
    }
