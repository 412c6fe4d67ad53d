"""Console pages: agent keys on the card (issue, rotate, revoke) and a person's own tokens."""

from __future__ import annotations

import pytest

from registry.models import AgentAPIKey, UserAPIKey
from registry.services import agent_key_issue

pytestmark = pytest.mark.django_db


def _issue_url(agent):
    return f"/telemetry/agents/{agent.slug}/keys/"


def test_it_shows_a_new_agent_key_once_to_the_owner(client, owner_user, agent):
    client.force_login(owner_user)
    response = client.post(_issue_url(agent), {"name": "prod", "expires_in_days": 30})
    assert response.status_code == 200
    key = AgentAPIKey.objects.get(agent=agent)
    html = response.content.decode()
    assert 'data-testid="new-key-value"' in html and f'value="{key.prefix}.' in html
    assert response["Cache-Control"] == "no-store"
    card = client.get(agent.get_absolute_url()).content.decode()
    assert key.prefix in card and 'data-testid="new-key-value"' not in card


def test_it_answers_htmx_with_the_keys_fragment(client, owner_user, agent):
    client.force_login(owner_user)
    response = client.post(_issue_url(agent), {"name": "prod", "expires_in_days": 90}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card mb-4" id="agent-keys"')
    assert 'data-testid="new-key-value"' in html
    assert "<html" not in html


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "expires_in_days": 90}, "name"),
        ({"name": "x", "expires_in_days": 400}, "expires_in_days"),
        ({"name": "x", "expires_in_days": "soon"}, "expires_in_days"),
        ({"name": "x" * 51, "expires_in_days": 9}, "name"),
    ],
)
def test_it_refuses_a_bad_key_form_and_issues_nothing(client, owner_user, agent, data, field):
    client.force_login(owner_user)
    response = client.post(_issue_url(agent), data)
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.content.decode()
    assert not AgentAPIKey.objects.exists()


def test_operators_may_manage_keys(client, operator_user, agent):
    client.force_login(operator_user)
    assert client.post(_issue_url(agent), {"name": "ops", "expires_in_days": 7}).status_code == 200


@pytest.mark.parametrize("user_fixture", ["other_owner_user", "auditor_user", "executive_user"])
def test_others_may_not_issue_keys(request, client, agent, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    assert client.post(_issue_url(agent), {"name": "x", "expires_in_days": 7}).status_code == 403
    assert not AgentAPIKey.objects.exists()
    key, _secret = agent_key_issue(agent=agent, name="k")
    assert client.post(f"{_issue_url(agent)}{key.prefix}/revoke/").status_code == 403
    assert client.post(f"{_issue_url(agent)}{key.prefix}/rotate/", {"grace_hours": 0}).status_code == 403
    assert AgentAPIKey.objects.get(pk=key.pk).revoked is False


def test_anonymous_is_sent_to_login(client, agent):
    response = client.post(_issue_url(agent), {"name": "x", "expires_in_days": 7})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_owner_revokes_and_rotates(client, owner_user, agent):
    client.force_login(owner_user)
    a, _ = agent_key_issue(agent=agent, name="a")
    b, _ = agent_key_issue(agent=agent, name="b")
    assert client.post(f"{_issue_url(agent)}{a.prefix}/revoke/").status_code == 302
    assert AgentAPIKey.objects.get(pk=a.pk).revoked
    response = client.post(f"{_issue_url(agent)}{b.prefix}/rotate/", {"grace_hours": 0})
    assert response.status_code == 200
    new = AgentAPIKey.objects.get(rotated_from=b)
    assert f'value="{new.prefix}.' in response.content.decode()
    assert AgentAPIKey.objects.get(pk=b.pk).revoked
    # rotating a revoked key is refused and issues nothing
    assert client.post(f"{_issue_url(agent)}{b.prefix}/rotate/", {"grace_hours": 0}).status_code == 409
    assert AgentAPIKey.objects.count() == 3


def test_key_changes_are_in_the_audit_trail(client, owner_user, agent):
    from auditlog.models import LogEntry

    client.force_login(owner_user)
    client.post(_issue_url(agent), {"name": "prod", "expires_in_days": 30})
    key = AgentAPIKey.objects.get()
    client.post(f"{_issue_url(agent)}{key.prefix}/revoke/")
    entries = LogEntry.objects.get_for_object(key)
    assert entries.count() == 2 and all(e.actor == owner_user for e in entries)
    assert "hashed_key" not in str([e.changes for e in entries])


def test_people_issue_and_revoke_their_own_tokens(client, auditor_user, board_user):
    client.force_login(auditor_user)
    response = client.post("/tokens/", {"name": "ci", "expires_in_days": 30})
    token = UserAPIKey.objects.get(user=auditor_user)
    assert f'value="{token.prefix}.' in response.content.decode()
    assert f'value="{token.prefix}.' not in client.get("/tokens/").content.decode()
    other, _ = UserAPIKey.objects.create_key(user=board_user, name="theirs")
    assert client.post(f"/tokens/{other.prefix}/revoke/").status_code == 404
    assert client.post(f"/tokens/{token.prefix}/revoke/").status_code == 302
    assert UserAPIKey.objects.get(pk=token.pk).revoked and not UserAPIKey.objects.get(pk=other.pk).revoked


def test_a_bad_token_form_creates_nothing(client, auditor_user):
    client.force_login(auditor_user)
    assert client.post("/tokens/", {"name": " ", "expires_in_days": 0}).status_code == 400
    assert not UserAPIKey.objects.exists()
