from __future__ import annotations

from decimal import Decimal

import pytest

from registry.services import agent_controls_update, global_controls_set

pytestmark = pytest.mark.django_db


def test_it_answers_the_agents_runtime_controls(agent_client, agent, deployed_version):
    response = agent_client.get("/api/v1/controls/")
    assert response.status_code == 200
    body = response.json()
    assert body["agent"] == agent.slug
    assert body["side_effects_enabled"] is True
    assert body["deployed_version"]["label"] == "1.1"
    assert body["deployed_version"]["bundle_digest"] == deployed_version.bundle_digest
    assert body["policy_version"] == deployed_version.policy_version
    assert body["canary_version"] is None and body["canary_share_pct"] == "0.00"
    assert response["ETag"]


def test_the_kill_switch_set_in_the_console_shows_on_the_next_request(agent_client, agent, operator_user):
    first = agent_client.get("/api/v1/controls/")
    assert first.json()["side_effects_enabled"] is True
    agent_controls_update(agent_id=agent.pk, actor=operator_user, side_effects_enabled=False)
    second = agent_client.get("/api/v1/controls/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 200
    assert second.json()["side_effects_enabled"] is False
    assert second.json()["agent_side_effects_enabled"] is False
    assert second["ETag"] != first["ETag"]


def test_the_fleet_kill_switch_shows_too(agent_client, operator_user):
    global_controls_set(side_effects_enabled=False, actor=operator_user, reason="drill")
    body = agent_client.get("/api/v1/controls/").json()
    assert (body["side_effects_enabled"], body["agent_side_effects_enabled"], body["global_side_effects_enabled"]) == (
        False,
        True,
        False,
    )


def test_an_unchanged_answer_is_a_304_on_if_none_match(agent_client):
    etag = agent_client.get("/api/v1/controls/")["ETag"]
    response = agent_client.get("/api/v1/controls/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert agent_client.get("/api/v1/controls/", HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_the_canary_shows_with_its_share(agent_client, agent, deployed_version):
    from tests.factories import AgentVersionFactory

    canary = AgentVersionFactory(agent=agent, label="1.2", model_name="gpt-4o")
    agent_controls_update(agent_id=agent.pk, canary_version=canary, canary_share_pct=Decimal("10"))
    body = agent_client.get("/api/v1/controls/").json()
    assert body["canary_version"]["label"] == "1.2"
    assert body["canary_share_pct"] == "10.00"


def test_extras_from_other_apps_are_merged_and_in_the_etag(agent_client, agent):
    from telemetry.extensions import controls_extras

    before = agent_client.get("/api/v1/controls/")["ETag"]
    with controls_extras.override(extra_policy):
        response = agent_client.get("/api/v1/controls/")
    assert response.json()["action_policy_version"] == f"p-{agent.slug}"
    assert response["ETag"] != before


def extra_policy(agent):
    return {"action_policy_version": f"p-{agent.slug}"}
