from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from registry.models import Agent, Tool
from tests.registry.test_permissions import _edit_payload


def _entries(model, pk):
    return LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(model), object_id=pk)


def test_creating_an_agent_through_the_console_is_audited_with_the_user(client, board_user, team, owner_user):
    client.force_login(board_user)
    payload = {
        "slug": "new-agent",
        "name": "New Agent",
        "purpose": "Does things.",
        "unit_of_work": "thing done",
        "kpi_name": "things",
        "owner_team": team.pk,
        "owner": owner_user.pk,
        "risk_tier": 3,
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
    response = client.post(reverse("registry:agent_create"), payload)
    assert response.status_code == 302, response.content.decode()[:2000]
    agent = Agent.objects.get(slug="new-agent")
    entry = _entries(Agent, agent.pk).get(action=LogEntry.Action.CREATE)
    assert entry.actor == board_user


def test_an_update_records_who_and_from_what_to_what(client, board_user, agent):
    client.force_login(board_user)
    # Issue 13: the risk tier is governed (a tier-change request); a descriptive field is edited directly.
    client.post(reverse("registry:agent_edit", args=[agent.slug]), _edit_payload(agent, unit_of_work="case closed"))
    entry = _entries(Agent, agent.pk).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert entry.actor == board_user
    assert entry.changes_dict["unit_of_work"] == [agent.unit_of_work, "case closed"]
    page = client.get(agent.get_absolute_url()).content.decode()
    assert "changed agent" in page and "unit of work" in page


def test_a_delete_is_audited_with_the_user(client, db):
    admin = Agent._meta.get_field("owner").related_model.objects.create_superuser("root", "r@x.test", "pw")
    tool = Tool.objects.create(name="kb.search", system="wiki", action_tier=0)
    client.force_login(admin)
    response = client.post(reverse("admin:registry_tool_delete", args=[tool.pk]), {"post": "yes"})
    assert response.status_code == 302
    entry = _entries(Tool, tool.pk).get(action=LogEntry.Action.DELETE)
    assert entry.actor == admin


def test_a_token_authenticated_call_is_audited_with_the_tokens_user(rf, agent, board_user):
    """The auditlog middleware resolves the actor before DRF authenticates a token; the token
    authentication fills it in, so writes made later in the request name the user."""
    from auditlog.context import set_extra_data

    from registry.api.authentication import UserAPIKeyAuthentication
    from registry.models import UserAPIKey

    _key, secret = UserAPIKey.objects.create_key(user=board_user, name="ci")
    request = rf.get("/api/v1/agents/", HTTP_AUTHORIZATION=f"Token {secret}")
    with set_extra_data(context_data={"actor": None, "remote_addr": "127.0.0.1"}):
        user, _auth = UserAPIKeyAuthentication().authenticate(request)
        agent.name = "Renamed by CI"
        agent.save()
    assert user == board_user
    entry = _entries(Agent, agent.pk).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert entry.actor == board_user


def test_api_errors_name_list_items_like_a_path():
    from config.api_errors import flatten_errors

    errors = flatten_errors({"results": {3: {"case": ["Unknown case."]}}, "name": ["Required."]})
    assert {"code": "invalid", "field": "results[3].case", "message": "Unknown case."} in errors
    assert {"code": "invalid", "field": "name", "message": "Required."} in errors


def test_a_request_sets_the_audit_context_without_connecting_a_receiver(client, board_user, agent, monkeypatch):
    """auditlog's middleware connected a pre_save receiver per request (emptying the signal's cache
    for every thread); ours sets the context only, and the entry still names the user and address."""
    from django.db.models.signals import pre_save

    connects = []
    original = pre_save.connect
    monkeypatch.setattr(pre_save, "connect", lambda *a, **k: connects.append(k) or original(*a, **k))
    client.force_login(board_user)
    client.post(
        reverse("registry:agent_edit", args=[agent.slug]),
        _edit_payload(agent, unit_of_work="ticket solved"),
        HTTP_X_CORRELATION_ID="req-42",
    )
    entry = _entries(Agent, agent.pk).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert entry.actor == board_user
    assert entry.remote_addr == "127.0.0.1"
    assert entry.cid == "req-42"  # the correlation id header, as auditlog's middleware reads it
    assert connects == []


def test_a_save_outside_any_request_after_acting_as_is_audited_without_error(agent, board_user):
    """Outside a request (a task, a command) ``acting_as`` puts back the None it found; the
    request context's receiver must then do nothing (auditlog's own would fail on None)."""
    from registry.audit import acting_as

    with acting_as(board_user):
        agent.name = "Renamed in a task"
        agent.save()
    agent.name = "Renamed again, no actor"
    agent.save()
    entries = _entries(Agent, agent.pk).filter(action=LogEntry.Action.UPDATE).order_by("timestamp")
    assert [e.actor for e in entries] == [board_user, None]
