"""Discovery: spans naming agents, tools or models the registry does not know land in a queue;
the board promotes (a proposed agent, a catalog tool) or blocks (later spans refused, counted)."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from registry.choices import AgentStatus
from registry.models import Agent, Tool
from telemetry.discovery import discovery_key_issue
from telemetry.models import Discovery, Run, Span
from tests.telemetry.otel_agent import recorded

pytestmark = pytest.mark.django_db


@pytest.fixture
def discovery_key(board_user):
    _key, secret = discovery_key_issue(name="collector", actor=board_user)
    return secret


def _export(client, key: str, **loop) -> ExportTraceServiceResponse:
    response = client.generic(
        "POST",
        "/v1/traces",
        recorded(**loop).SerializeToString(),
        content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
    return ExportTraceServiceResponse.FromString(response.content)


def test_spans_from_an_unregistered_agent_land_in_the_queue_and_are_not_stored(client, discovery_key, board_user):
    answer = _export(client, discovery_key, agent_name="shadow-bot", service_name="shadow-svc", tools=("crm.export",))
    assert answer.partial_success.rejected_spans == 0
    assert "held for review" in answer.partial_success.error_message
    _export(client, discovery_key, agent_name="shadow-bot", service_name="shadow-svc")
    entry = Discovery.objects.get(kind="agent")
    assert (entry.name, entry.state, entry.span_count) == ("shadow-bot", "unreviewed", 8)
    assert entry.first_seen_at <= entry.last_seen_at
    assert entry.sample["service_name"] == "shadow-svc" and entry.sample["tools"] == ["crm.export"]
    assert not Span.objects.exists() and not Run.objects.exists()
    # The home page shows unreviewed discoveries to the board.
    client.force_login(board_user)
    home = client.get("/").content.decode()
    assert 'data-testid="panel-discovery"' in home and "shadow-bot" in home


def test_a_registered_agent_under_a_discovery_key_is_ingested_as_itself(client, agent, deployed_version, discovery_key):
    _export(client, discovery_key, agent_name=agent.slug)
    assert Run.objects.get(agent=agent).version == deployed_version
    assert not Discovery.objects.filter(kind="agent").exists()


def test_promote_creates_a_proposed_agent_prefilled_and_audited(client, discovery_key, board_user, team):
    _export(client, discovery_key, agent_name="shadow-bot")
    entry = Discovery.objects.get(kind="agent")
    client.force_login(board_user)
    url = reverse("telemetry:discovery_promote", args=[entry.pk])
    form = client.get(url)
    assert form.status_code == 200 and 'value="shadow-bot"' in form.content.decode()
    data = {
        "slug": "shadow-bot",
        "name": "Shadow bot",
        "purpose": "Found running without registration.",
        "unit_of_work": "ticket",
        "kpi_name": "tickets closed",
        "owner_team": team.pk,
        "owner": board_user.pk,
        "risk_tier": 2,
        "status": "production",  # not on the form: ignored, the agent starts proposed
    }
    assert client.post(url, data).status_code == 302
    agent = Agent.objects.get(slug="shadow-bot")
    assert agent.status == AgentStatus.PROPOSED
    entry.refresh_from_db()
    assert (entry.state, entry.promoted_agent, entry.reviewed_by) == ("promoted", agent, board_user)
    assert LogEntry.objects.get_for_object(entry).filter(actor=board_user).exists()
    # Promoted: the agent's spans are now ingested as its own (it has no approved version yet).
    _export(client, discovery_key, agent_name="shadow-bot")
    assert Run.objects.get(agent=agent).version is None
    # A second promotion is refused: the entry was reviewed.
    assert client.post(url, data).status_code == 400


def test_block_refuses_and_counts_later_spans(client, discovery_key, board_user):
    _export(client, discovery_key, agent_name="shadow-bot")
    entry = Discovery.objects.get(kind="agent")
    client.force_login(board_user)
    assert client.post(reverse("telemetry:discovery_block", args=[entry.pk])).status_code == 302
    answer = _export(client, discovery_key, agent_name="shadow-bot")
    assert answer.partial_success.rejected_spans == 4
    assert "blocked" in answer.partial_success.error_message
    entry.refresh_from_db()
    assert (entry.state, entry.span_count, entry.rejected_spans) == ("blocked", 4, 4)
    assert LogEntry.objects.get_for_object(entry).filter(actor=board_user).exists()


def test_a_blocked_tool_spans_are_refused_for_every_agent(client, agent, agent_key, deployed_version, board_user):
    _export(client, agent_key, tools=("crm.export",))
    entry = Discovery.objects.get(kind="tool")
    client.force_login(board_user)
    client.post(reverse("telemetry:discovery_block", args=[entry.pk]))
    answer = _export(client, agent_key, tools=("crm.export", "tickets.read"))
    assert answer.partial_success.rejected_spans == 1
    entry.refresh_from_db()
    assert entry.rejected_spans == 1


def test_promote_a_tool_into_the_catalog(client, agent, agent_key, deployed_version, board_user):
    _export(client, agent_key, tools=("crm.export",))
    entry = Discovery.objects.get(kind="tool")
    client.force_login(board_user)
    url = reverse("telemetry:discovery_promote", args=[entry.pk])
    assert 'value="crm.export"' in client.get(url).content.decode()
    response = client.post(url, {"name": "crm.export", "system": "CRM", "description": "", "action_tier": 0})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.promoted_tool == Tool.objects.get(name="crm.export")


def test_bad_promotion_input_is_a_400_and_changes_nothing(client, agent, agent_key, deployed_version, board_user):
    _export(client, agent_key, tools=("crm.export",))
    entry = Discovery.objects.get(kind="tool")
    client.force_login(board_user)
    url = reverse("telemetry:discovery_promote", args=[entry.pk])
    response = client.post(url, {"name": "Not A Tool", "system": "", "action_tier": 9})
    assert response.status_code == 400
    entry.refresh_from_db()
    assert entry.state == "unreviewed" and not Tool.objects.filter(system="").exists()


def test_only_the_board_sees_and_reviews_the_queue(client, owner_user, board_user, discovery_key):
    _export(client, discovery_key, agent_name="shadow-bot")
    entry = Discovery.objects.get()
    client.force_login(owner_user)
    assert client.get(reverse("telemetry:discovery_list")).status_code == 403
    assert client.post(reverse("telemetry:discovery_block", args=[entry.pk])).status_code == 403
    assert reverse("telemetry:discovery_list") not in client.get("/").content.decode()
    client.force_login(board_user)
    page = client.get(reverse("telemetry:discovery_list")).content.decode()
    assert "shadow-bot" in page
    issued = client.post(reverse("telemetry:discovery_key_issue"), {"name": "eu collector", "expires_in_days": 30})
    assert issued.status_code == 200 and 'data-testid="new-discovery-key-value"' in issued.content.decode()
    assert client.post(reverse("telemetry:discovery_key_issue"), {"name": "", "expires_in_days": 0}).status_code == 400


def test_a_revoked_discovery_key_is_401(client, board_user, discovery_key):
    from telemetry.models import DiscoveryKey

    client.force_login(board_user)
    prefix = discovery_key.partition(".")[0]
    client.post(reverse("telemetry:discovery_key_revoke", args=[prefix]))
    assert DiscoveryKey.objects.get(prefix=prefix).revoked
    response = client.generic(
        "POST", "/v1/traces", recorded().SerializeToString(), content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {discovery_key}",
    )  # fmt: skip
    assert response.status_code == 401


def test_the_admin_shows_discoveries_and_keys_read_only_and_blocks_only_through_the_service(client, discovery_key):
    """Issue 16, loose end: the Django admin lists the queue and the keys; nothing is added,
    edited or deleted there (a superuser included), the hashed secret is never shown, and the
    block and revoke actions go through the audited services."""
    from django.contrib.auth import get_user_model

    from telemetry.models import DiscoveryKey

    root = get_user_model().objects.create_superuser("root", "root@example.test", "pw-root-123456")
    _export(client, discovery_key, agent_name="shadow-bot")
    entry = Discovery.objects.get(kind="agent", name="shadow-bot")
    key = DiscoveryKey.objects.get()
    client.force_login(root)
    for name, obj in (("discovery", entry), ("discoverykey", key)):
        assert client.get(reverse(f"admin:telemetry_{name}_changelist")).status_code == 200
        page = client.get(reverse(f"admin:telemetry_{name}_change", args=[obj.pk]))
        assert page.status_code == 200 and not page.context["adminform"].form.fields, "every field read-only"
        assert client.get(reverse(f"admin:telemetry_{name}_add")).status_code == 403
        assert client.post(reverse(f"admin:telemetry_{name}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    assert (
        key.hashed_key not in client.get(reverse("admin:telemetry_discoverykey_change", args=[key.pk])).content.decode()
    )
    posted = client.post(reverse("admin:telemetry_discovery_change", args=[entry.pk]), {"state": "promoted"})
    assert posted.status_code == 403
    entry.refresh_from_db()
    assert entry.state == "unreviewed"

    changelist = reverse("admin:telemetry_discovery_changelist")
    client.post(changelist, {"action": "block_selected", "_selected_action": [entry.pk]})
    entry.refresh_from_db()
    assert (entry.state, entry.reviewed_by) == ("blocked", root)
    assert LogEntry.objects.get_for_object(entry).filter(actor=root).exists()
    client.post(changelist, {"action": "block_selected", "_selected_action": [entry.pk]})  # already blocked: refused
    entry.refresh_from_db()
    assert entry.state == "blocked"

    client.post(
        reverse("admin:telemetry_discoverykey_changelist"), {"action": "revoke_selected", "_selected_action": [key.pk]}
    )
    key.refresh_from_db()
    assert key.revoked and key.revoked_at is not None
