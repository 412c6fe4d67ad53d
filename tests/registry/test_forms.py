"""Bad input on registry forms: field-level messages, nothing partial saved."""

import pytest
from django.urls import reverse

from registry.models import Agent, AgentVersion
from tests.registry.test_permissions import _edit_payload

pytestmark = pytest.mark.django_db

VALID_NEW = {
    "slug": "fresh-agent",
    "name": "Fresh",
    "purpose": "Purpose.",
    "unit_of_work": "unit",
    "kpi_name": "kpi",
    "risk_tier": 2,
    "status": "proposed",
    "data_classification": "internal",
    "success_threshold_pct": "92",
    "escalation_threshold_pct": "8",
    "monthly_budget_usd": "100",
    "human_cost_per_minute_usd": "0.5",
    "human_minutes_per_unit": "5",
    "monthly_infra_cost_usd": "0",
    "monthly_ops_cost_usd": "0",
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slug", "Not A Slug!", "valid “slug”"),
        ("risk_tier", "4", "Select a valid choice"),
        ("success_threshold_pct", "101", "less than or equal to 100"),
        ("monthly_budget_usd", "-5", "greater than or equal to 0"),
        ("monthly_budget_usd", "lots", "Enter a number"),
        ("name", "", "This field is required"),
        ("channels", "telepathy", "Select a valid choice"),
        # Issue 13: no status (a new agent starts as proposed) and no review date (derived) on this form.
    ],
)
def test_registering_rejects_bad_values_with_a_field_message(
    client, board_user, team, owner_user, field, value, message
):
    client.force_login(board_user)
    payload = {**VALID_NEW, "owner_team": team.pk, "owner": owner_user.pk, field: value}
    response = client.post(reverse("registry:agent_create"), payload)
    assert response.status_code == 400
    body = response.content.decode()
    assert f'data-field="{field}"' in body and message in body
    assert not Agent.objects.filter(slug="fresh-agent").exists()


def test_a_duplicate_slug_is_a_field_error(client, board_user, agent, team, owner_user):
    client.force_login(board_user)
    response = client.post(
        reverse("registry:agent_create"),
        {**VALID_NEW, "slug": agent.slug, "owner_team": team.pk, "owner": owner_user.pk},
    )
    assert response.status_code == 400
    assert 'data-field="slug"' in response.content.decode()
    assert Agent.objects.filter(slug=agent.slug).count() == 1


def test_a_bad_edit_saves_nothing_at_all(client, board_user, agent):
    client.force_login(board_user)
    response = client.post(
        reverse("registry:agent_edit", args=[agent.slug]),
        _edit_payload(agent, name="Renamed", monthly_budget_usd="-1"),
    )
    assert response.status_code == 400
    agent.refresh_from_db()
    assert agent.name == "Support Triage"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("label", "1.0", "already has a version labelled"),
        ("label", "bad label!", "Letters, digits"),
        ("prompt_ref", "abc", "SHA-256"),
        ("model_name", "", "This field is required"),
    ],
)
def test_version_form_rejects_bad_values(client, owner_user, agent, field, value, message):
    AgentVersion.objects.create(agent=agent, label="1.0", model_provider="openai", model_name="m", prompt_ref="a" * 64)
    client.force_login(owner_user)
    payload = {
        "label": "2.0",
        "model_provider": "openai",
        "model_name": "gpt-4o",
        "prompt_ref": "b" * 64,
        "policy_version": "1",
        field: value,
    }
    response = client.post(reverse("registry:version_create", args=[agent.slug]), payload)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert agent.versions.count() == 1


def test_a_valid_version_is_created_as_a_draft_with_its_tools(client, owner_user, agent):
    from tests.factories import ToolFactory

    tool = ToolFactory(name="kb.search", action_tier=0)
    client.force_login(owner_user)
    payload = {
        "label": "2.0",
        "model_provider": "openai",
        "model_name": "gpt-4o",
        "prompt_ref": "b" * 64,
        "policy_version": "1",
        "tools": [tool.pk],
    }
    response = client.post(reverse("registry:version_create", args=[agent.slug]), payload)
    assert response.status_code == 302
    version = agent.versions.get(label="2.0")
    assert version.state == "draft" and list(version.grants.values_list("tool__name", flat=True)) == ["kb.search"]


def test_a_bad_filter_value_gets_a_message_not_a_crash(client, board_user, agent):
    client.force_login(board_user)
    response = client.get(reverse("registry:agent_list"), {"risk_tier": "9"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Select a valid choice" in body and agent.name not in body.split("agent-table")[1]
