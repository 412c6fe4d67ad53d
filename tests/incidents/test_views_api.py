"""Pages and the REST API: permissions, HTMX status changes, filters, postmortem editor, metrics."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import ActionItem, Incident, Postmortem
from registry.models import UserAPIKey
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
READ_ROLES = ["board_user", "approver_user", "owner_user", "operator_user", "executive_user", "auditor_user"]


def test_anonymous_is_sent_to_log_in(client, open_incident):
    incident = open_incident()
    for url in (reverse("incidents:incident_list"), incident.get_absolute_url(), reverse("incidents:metrics")):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("role", READ_ROLES)
def test_every_role_reads_incidents(client, request, open_incident, role):
    incident = open_incident()
    client.force_login(request.getfixturevalue(role))
    assert incident.title in client.get(reverse("incidents:incident_list")).content.decode()
    assert client.get(incident.get_absolute_url()).status_code == 200
    assert client.get(reverse("incidents:postmortem_edit", args=[incident.pk])).status_code == 200


def test_a_user_in_no_role_reads_nothing(client, open_incident, outsider_user):
    incident = open_incident()
    client.force_login(outsider_user)
    assert client.get(reverse("incidents:incident_list")).status_code == 403
    assert client.get(incident.get_absolute_url()).status_code == 403


@pytest.mark.parametrize("role", ["executive_user", "auditor_user", "approver_user"])
def test_read_only_roles_change_nothing(client, request, open_incident, role):
    incident = open_incident(severity="sev3")
    client.force_login(request.getfixturevalue(role))
    url = reverse("incidents:incident_transition", args=[incident.pk])
    assert client.post(url, {"to_status": "mitigated", "note": "x"}).status_code == 403
    assert client.post(reverse("incidents:incident_note", args=[incident.pk]), {"note": "x"}).status_code == 403
    assert client.post(reverse("incidents:postmortem_edit", args=[incident.pk]), {"summary": "x"}).status_code == 403
    assert client.get(reverse("incidents:incident_create")).status_code == 403
    incident.refresh_from_db()
    assert incident.status == "open" and incident.timeline.count() == 1
    assert not Postmortem.objects.exists()


def test_the_owner_of_the_agent_may_respond_but_not_to_another_agents_incident(client, open_incident, owner_user):
    mine = open_incident(severity="sev3")
    theirs = open_incident(agent=AgentFactory(slug="theirs"), severity="sev3")
    client.force_login(owner_user)
    url = "incidents:incident_transition"
    assert client.post(reverse(url, args=[mine.pk]), {"to_status": "mitigated", "note": "m"}).status_code == 302
    assert client.post(reverse(url, args=[theirs.pk]), {"to_status": "mitigated", "note": "m"}).status_code == 403


def test_htmx_status_change_returns_the_live_fragment_with_the_timeline(client, open_incident, operator_user):
    incident = open_incident(severity="sev3")
    client.force_login(operator_user)
    response = client.post(
        reverse("incidents:incident_transition", args=[incident.pk]),
        {"to_status": "mitigated", "note": "Rolled back the canary"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="incident-live"' in html and "Rolled back the canary" in html and "Mitigated" in html
    assert "HX-Request" in response["Vary"]
    incident.refresh_from_db()
    assert incident.status == "mitigated"


def test_htmx_refused_transition_shows_why_and_changes_nothing(client, open_incident, operator_user):
    incident = open_incident(severity="sev3")
    client.force_login(operator_user)
    response = client.post(
        reverse("incidents:incident_transition", args=[incident.pk]),
        {"to_status": "closed", "note": "done"},
        headers={"HX-Request": "true"},
    )
    assert (
        'data-testid="live-error"' in response.content.decode() and "cannot become closed" in response.content.decode()
    )
    incident.refresh_from_db()
    assert incident.status == "open"


def test_without_javascript_a_missing_note_is_reported(client, open_incident, operator_user):
    incident = open_incident(severity="sev3")
    client.force_login(operator_user)
    response = client.post(
        reverse("incidents:incident_transition", args=[incident.pk]), {"to_status": "mitigated"}, follow=True
    )
    assert "every status change needs a note" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == "open"


def test_reporting_an_incident_from_the_form(client, agent, operator_user):
    client.force_login(operator_user)
    data = {"agent": agent.slug, "severity": "sev1", "title": "Leaked PII", "failure_mode": "security"}
    response = client.post(reverse("incidents:incident_create"), data)
    assert response.status_code == 400 and "customer impact" in response.content.decode()
    assert not Incident.objects.exists()
    data["customer_impact"] = "3 customers saw another's address"
    data["run_ids"] = "run-1, run-2\nrun-3"
    response = client.post(reverse("incidents:incident_create"), data)
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == incident.get_absolute_url()
    assert incident.detection_source == "person" and incident.opened_by == operator_user
    assert list(incident.linked_runs.values_list("run_id", flat=True)) == ["run-1", "run-2", "run-3"]


def test_list_filters_by_severity_status_agent_and_age(client, agent, open_incident, operator_user):
    old = open_incident(severity="sev3", title="Old stale answers")
    services.incident_transition(incident_id=old.pk, to_status="resolved", note="r")
    Incident.objects.filter(pk=old.pk).update(detected_at=timezone.now() - timedelta(days=40))
    other = AgentFactory(slug="billing-bot", name="Billing Bot")
    open_incident(agent=other, severity="sev2", title="Billing loop", failure_mode="stuck_loop")
    client.force_login(operator_user)
    url = reverse("incidents:incident_list")

    def titles(**params):
        html = client.get(url, params).content.decode()
        return {t for t in ("Old stale answers", "Billing loop") if t in html}

    assert titles() == {"Old stale answers", "Billing loop"}
    assert titles(severity="sev2") == {"Billing loop"}
    assert titles(status="resolved") == {"Old stale answers"}
    assert titles(status="active") == {"Billing loop"}
    assert titles(agent="billing-bot") == {"Billing loop"}
    assert titles(age="older") == {"Old stale answers"}
    assert titles(age="7d") == {"Billing loop"}
    bad = client.get(url, {"severity": "sev9"})
    assert bad.status_code == 400 and "sev9" in bad.content.decode()


def test_the_list_page_query_count_does_not_grow_with_incidents(client, operator_user, django_assert_max_num_queries):
    for i in range(12):
        agent = AgentFactory(slug=f"a{i}")
        services.incident_open_or_link(
            agent=agent,
            severity="sev2",
            title=f"t{i}",
            failure_mode="stuck_loop",
            detection_source="eval",
            commander=operator_user,
        )
    client.force_login(operator_user)
    with django_assert_max_num_queries(20):
        assert client.get(reverse("incidents:incident_list")).status_code == 200


def test_postmortem_editor_saves_drafts_and_keeps_text_when_publishing_is_refused(client, open_incident, operator_user):
    incident = open_incident(severity="sev2", commander=operator_user)
    client.force_login(operator_user)
    url = reverse("incidents:postmortem_edit", args=[incident.pk])
    response = client.post(url, {"summary": "Loop on refunds", "action": "publish"})
    assert response.status_code == 400 and "Resolve the incident" in response.content.decode()
    postmortem = Postmortem.objects.get(incident=incident)
    assert postmortem.summary == "Loop on refunds" and postmortem.status == "draft"


def test_action_items_inline_update_with_htmx(client, open_incident, operator_user):
    incident = open_incident(severity="sev2", commander=operator_user)
    client.force_login(operator_user)
    client.post(
        reverse("incidents:action_item_add", args=[incident.pk]),
        {"title": "Add alerting", "owner": operator_user.pk, "due_on": "2030-01-01"},
    )
    item = ActionItem.objects.get()
    response = client.post(
        reverse("incidents:action_item_update", args=[item.pk]),
        {"state": "done", "due_on": "2030-01-01"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and f'id="item-{item.pk}"' in response.content.decode()
    item.refresh_from_db()
    assert item.state == "done" and item.completed_at is not None
    bad = client.post(reverse("incidents:action_item_add", args=[incident.pk]), {"title": "", "due_on": "nope"})
    assert bad.status_code == 400 and ActionItem.objects.count() == 1


def test_metrics_per_agent_and_severity(client, agent, open_incident, operator_user):
    for hours in (2, 4):
        incident = open_incident(severity="sev3", title=f"h{hours}")
        services.incident_transition(incident_id=incident.pk, to_status="resolved", note="r")
        detected = timezone.now() - timedelta(hours=hours)
        Incident.objects.filter(pk=incident.pk).update(
            detected_at=detected,
            mitigated_at=detected + timedelta(hours=1),
            resolved_at=detected + timedelta(hours=hours),
        )
    from incidents.selectors import incident_metrics

    (row,) = incident_metrics(Incident.objects.all())
    assert (row.agent_id, row.severity, row.count, row.open_count) == (agent.pk, "sev3", 2, 0)
    assert row.mttm == timedelta(hours=1) and row.mttr == timedelta(hours=3)
    client.force_login(operator_user)
    html = client.get(reverse("incidents:metrics")).content.decode()
    assert "1 h 0 min" in html and "3 h 0 min" in html


def test_incident_cost_by_agent_counts_incidents_detected_in_the_window(agent, open_incident):
    incident = open_incident(severity="sev3", financial_impact_usd=Decimal("120.50"))
    now = timezone.now()
    from incidents.selectors import incident_cost_by_agent

    assert incident_cost_by_agent(start=now - timedelta(days=1), end=now + timedelta(days=1)) == {
        agent.pk: Decimal("120.50")
    }
    assert incident_cost_by_agent(start=incident.detected_at + timedelta(seconds=1), end=now + timedelta(days=1)) == {}


# --- REST ---------------------------------------------------------------------------------------


def _token_client(user):
    from rest_framework.test import APIClient

    _key, secret = UserAPIKey.objects.create_key(user=user, name="monitoring")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_monitoring_opens_an_incident_with_a_user_token_then_links(agent, operator_user):
    api = _token_client(operator_user)
    body = {"agent": agent.slug, "severity": "sev2", "title": "Error rate up 7 points", "run_ids": ["r-1"]}
    first = api.post("/api/v1/incidents/", body, format="json")
    assert first.status_code == 201 and first.json()["created"] is True
    data = first.json()["incident"]
    assert data["detection_source"] == "monitoring" and data["status"] == "open" and data["agent"] == agent.slug
    second = api.post("/api/v1/incidents/", {**body, "title": "Still up"}, format="json")
    assert second.status_code == 200 and second.json()["created"] is False
    assert second.json()["incident"]["id"] == data["id"]
    detail = api.get(f"/api/v1/incidents/{data['id']}/").json()
    assert detail["run_ids"] == ["r-1"] and any("Still up" in e["note"] for e in detail["timeline"])
    listing = api.get("/api/v1/incidents/", {"severity": "sev2"}).json()
    assert listing["count"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"severity": "sev2", "title": "t"}, "agent"),
        ({"agent": "nope", "severity": "sev2", "title": "t"}, "agent"),
        ({"agent": "support-triage", "severity": "sev7", "title": "t"}, "severity"),
        ({"agent": "support-triage", "severity": "sev2", "title": ""}, "title"),
        (
            {"agent": "support-triage", "severity": "sev2", "title": "t", "financial_impact_usd": "-1"},
            "financial_impact_usd",
        ),
        ({"agent": "support-triage", "severity": "sev2", "title": "t", "run_ids": ["x" * 200]}, "run_ids[0]"),
    ],
)
def test_bad_api_input_gets_a_field_error_and_creates_nothing(agent, operator_user, body, field):
    response = _token_client(operator_user).post("/api/v1/incidents/", body, format="json")
    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}
    assert not Incident.objects.exists()


@pytest.mark.parametrize("role", ["executive_user", "auditor_user"])
def test_read_only_roles_read_but_cannot_open_through_the_api(request, agent, open_incident, role):
    open_incident()
    api = _token_client(request.getfixturevalue(role))
    assert api.get("/api/v1/incidents/").json()["count"] == 1
    response = api.post("/api/v1/incidents/", {"agent": agent.slug, "severity": "sev3", "title": "t"}, format="json")
    assert response.status_code == 403 and Incident.objects.count() == 1


def test_the_api_needs_authentication(client):
    assert client.get("/api/v1/incidents/").status_code in (401, 403)
