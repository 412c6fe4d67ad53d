"""REST for CI: create a change request with a user token, read its status and decisions."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from approvals import services
from approvals.models import ApprovalRequest, Decision
from registry.choices import VersionState
from registry.models import UserAPIKey
from tests.factories import AgentVersionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/change-requests/"


def token_client(user) -> APIClient:
    _, key = UserAPIKey.objects.create_key(name="ci", user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def ci(owner_user):
    return token_client(owner_user)


def test_it_creates_a_go_live_request_from_ci(ci, agent, deployed):
    AgentVersionFactory(agent=agent, label="1.4", state=VersionState.APPROVED)
    response = ci.post(
        URL,
        {"agent": agent.slug, "kind": "go_live", "payload": {"version": "1.4"}, "justification": "Release 1.4."},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending" and body["version"] == "1.4" and body["required_approvals"] == 2
    assert body["payload"]["label"] == "1.4" and len(body["payload_hash"]) == 64
    assert [c["key"] for c in body["checklist"]] == ["privacy", "security", "eval_threshold", "cost_budget"]
    assert body["url"].endswith(f"/approvals/{body['id']}/")
    assert ApprovalRequest.objects.get(pk=body["id"]).requester.username == "owner"


def test_it_reads_status_and_decisions(ci, grant_request, approver_a):
    services.decision_record(
        request_id=grant_request.pk,
        approver=approver_a,
        verdict="approve",
        reason="Limit is sane.",
        payload_hash=grant_request.payload_hash,
    )
    body = ci.get(f"{URL}{grant_request.pk}/").json()
    assert body["status"] == "pending"
    assert body["approvals"] == 1
    assert body["summary"].startswith("1 of 2 approvals — approved by")
    assert body["decisions"] == [
        {
            "approver": "alice",
            "verdict": "approve",
            "reason": "Limit is sane.",
            "payload_hash": grant_request.payload_hash,
            "counts": True,
            "decided_at": body["decisions"][0]["decided_at"],
        }
    ]
    listed = ci.get(URL, {"status": "pending", "agent": grant_request.agent.slug}).json()
    assert [r["id"] for r in listed["results"]] == [grant_request.pk]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "go_live", "payload": {"version": "1.4"}, "justification": "x"}, "agent"),
        (
            {"agent": "support-triage", "kind": "go_live", "payload": {"version": "9.9"}, "justification": "x"},
            "version",
        ),
        ({"agent": "support-triage", "kind": "warp_drive", "payload": {}, "justification": "x"}, "kind"),
        ({"agent": "support-triage", "kind": "go_live", "payload": [1], "justification": "x"}, "payload"),
        ({"agent": "support-triage", "kind": "go_live", "payload": {"version": "1.0"}}, "justification"),
        ({"agent": "nobody-knows", "kind": "go_live", "payload": {}, "justification": "x"}, "agent"),
    ],
)
def test_bad_input_gets_a_field_error_and_changes_nothing(ci, agent, deployed, body, field):
    response = ci.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert any(e["field"] == field and e["message"] for e in errors), errors
    assert ApprovalRequest.objects.count() == 0


def test_a_duplicate_open_request_is_a_conflict(ci, grant_request):
    response = ci.post(
        URL,
        {
            "agent": grant_request.agent.slug,
            "kind": "tool_grant",
            "payload": {"tool": "payments.refund", "constraints": {"max_amount_usd": 50}},
            "justification": "Again.",
        },
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "duplicate"
    assert ApprovalRequest.objects.count() == 1


def test_it_needs_rights_on_the_agent(other_owner_user, agent, deployed, refund_tool):
    response = token_client(other_owner_user).post(
        URL,
        {"agent": agent.slug, "kind": "tool_grant", "payload": {"tool": "payments.refund"}, "justification": "x"},
        format="json",
    )
    assert response.status_code == 403
    assert ApprovalRequest.objects.count() == 0


def test_it_refuses_anonymous_and_bad_tokens(agent):
    assert APIClient().get(URL).status_code in (401, 403)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope.nope")
    assert client.get(URL).status_code == 401


def test_an_unknown_request_is_404_and_a_bad_filter_is_400(ci):
    response = ci.get(f"{URL}999999/")
    assert response.status_code == 404 and response.json()["errors"][0]["message"]
    response = ci.get(URL, {"status": "maybe"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "status"


def test_requests_and_decisions_cannot_be_edited_or_deleted_through_the_api(ci, grant_request, approver_a):
    services.decision_record(
        request_id=grant_request.pk,
        approver=approver_a,
        verdict="approve",
        reason="ok",
        payload_hash=grant_request.payload_hash,
    )
    detail = f"{URL}{grant_request.pk}/"
    for method in ("put", "patch", "delete"):
        response = getattr(ci, method)(detail, {"status": "applied", "decisions": []}, format="json")
        assert response.status_code == 405, method
    assert token_client(approver_a).delete(detail).status_code == 405
    grant_request.refresh_from_db()
    assert grant_request.status == "pending"
    assert Decision.objects.get(request=grant_request).reason == "ok"
