"""A key acts only as its own agent; revoked and expired keys and people are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from registry.models import AgentAPIKey
from registry.services import agent_key_issue, agent_key_revoke, agent_key_rotate, user_key_issue
from telemetry.models import Run
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def _client(secret: str | None = None, scheme: str = "Bearer") -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {secret}")
    return client


@pytest.fixture
def agent_b(db):
    return AgentFactory(slug="agent-b")


def test_it_refuses_a_key_posting_a_run_for_another_agent(agent_client, run_payload, agent_b):
    response = agent_client.post("/api/v1/runs/", run_payload(agent="agent-b"), format="json")
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "agent"
    assert not Run.objects.exists()


def test_it_refuses_another_agents_run_inside_a_batch_but_keeps_the_rest(agent_client, run_payload, agent):
    runs = [run_payload(agent="agent-b"), run_payload(agent=agent.slug)]
    body = agent_client.post("/api/v1/runs/batch/", {"runs": runs}, format="json").json()
    assert [r["result"] for r in body["results"]] == ["invalid", "created"]
    assert body["results"][0]["errors"][0] == {
        "code": "forbidden",
        "field": "runs[0].agent",
        "message": body["results"][0]["errors"][0]["message"],
    }
    assert list(Run.objects.values_list("agent__slug", flat=True)) == [agent.slug]


def test_it_stores_runs_under_the_keys_agent_only(agent_b, run_payload, agent):
    _key, secret_b = agent_key_issue(agent=agent_b, name="b")
    assert _client(secret_b).post("/api/v1/runs/", run_payload(run_id="x"), format="json").status_code == 201
    assert list(Run.objects.values_list("agent__slug", flat=True)) == ["agent-b"]


def test_it_refuses_reading_another_agents_controls(agent_client, agent_b):
    response = agent_client.get("/api/v1/controls/", {"agent": "agent-b"})
    assert response.status_code == 403
    assert "agent-b" not in response.content.decode().replace("(support-triage)", "")


def test_a_revoked_key_gets_401(agent, run_payload):
    key, secret = agent_key_issue(agent=agent, name="k")
    agent_key_revoke(agent=agent, key_id=key.pk)
    response = _client(secret).post("/api/v1/runs/", run_payload(), format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert _client(secret).get("/api/v1/controls/").status_code == 401
    assert not Run.objects.exists()


def test_an_expired_key_gets_401(agent, run_payload):
    key, secret = agent_key_issue(agent=agent, name="k")
    AgentAPIKey.objects.filter(pk=key.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))
    assert _client(secret).post("/api/v1/runs/", run_payload(), format="json").status_code == 401
    assert _client(secret).get("/api/v1/controls/").status_code == 401


def test_a_wrong_secret_with_a_real_prefix_gets_401(agent, run_payload):
    key, secret = agent_key_issue(agent=agent, name="k")
    forged = secret.split(".")[0] + ".not-the-secret"
    assert _client(forged).post("/api/v1/runs/", run_payload(), format="json").status_code == 401


def test_no_key_gets_401(run_payload):
    assert _client().post("/api/v1/runs/", run_payload(), format="json").status_code == 401


def test_a_users_session_cannot_post_runs(client, board_user, agent, run_payload):
    client.force_login(board_user)
    response = client.post("/api/v1/runs/", run_payload(), content_type="application/json")
    assert response.status_code == 401
    assert not Run.objects.exists()


def test_a_users_token_cannot_post_runs(board_user, run_payload):
    _key, secret = user_key_issue(user=board_user, name="ci")
    for scheme in ("Token", "Bearer"):
        assert _client(secret, scheme).post("/api/v1/runs/", run_payload(), format="json").status_code == 401
    assert not Run.objects.exists()


def test_an_agent_key_cannot_read_the_console_api(agent_key):
    assert _client(agent_key).get("/api/v1/agents/").status_code in (401, 403)


def test_rotation_replaces_the_key_and_the_old_one_stops(agent, run_payload):
    old, old_secret = agent_key_issue(agent=agent, name="prod")
    new, new_secret = agent_key_rotate(agent=agent, key_id=old.pk)
    assert new.name == "prod" and new.rotated_from_id == old.pk
    assert _client(old_secret).get("/api/v1/agent/whoami/").status_code == 401
    assert _client(new_secret).get("/api/v1/agent/whoami/").json()["agent"] == agent.slug


def test_rotation_with_grace_keeps_the_old_key_for_a_while(agent):
    old, old_secret = agent_key_issue(agent=agent, name="prod")
    agent_key_rotate(agent=agent, key_id=old.pk, grace_hours=24)
    old.refresh_from_db()
    assert not old.revoked and old.expiry_date <= timezone.now() + timedelta(hours=24)
    assert _client(old_secret).get("/api/v1/agent/whoami/").status_code == 200


def test_a_key_is_stored_hashed_with_a_visible_prefix_and_a_90_day_expiry(agent):
    key, secret = agent_key_issue(agent=agent, name="k")
    stored = AgentAPIKey.objects.get(pk=key.pk)
    assert secret.startswith(stored.prefix + ".")
    assert secret.split(".")[1] not in stored.hashed_key and secret not in stored.id
    assert timedelta(days=89, hours=23) < stored.expiry_date - timezone.now() <= timedelta(days=90)


def test_last_used_is_recorded(agent_key, agent):
    assert AgentAPIKey.objects.get(agent=agent).last_used_at is None
    _client(agent_key).get("/api/v1/agent/whoami/")
    assert AgentAPIKey.objects.get(agent=agent).last_used_at is not None
