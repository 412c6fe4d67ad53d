"""Intake, documents and impact assessments over the API (issue 21): the console's rights, the
same rules through the same services, a clear 400 that changes nothing, never a 5xx, and no side
door to an assessment's two-person approval (neither the API nor the admin)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.models import ApprovalRequest
from compliance.assessments import QUESTIONS
from compliance.models import AgentDocument, ImpactAssessment, Intake
from tests.compliance.test_documents import EICAR, FAKE_SCANNER
from tests.compliance.test_intake import INTAKE_POST, WORKED_EXAMPLE
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FRIA_ANSWERS = {key: f"Answer to {key}." for key, _ in QUESTIONS["fria"]}


def _api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _later(days=90) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def _fields(response) -> set:
    return {e["field"] for e in response.json()["errors"]}


# --- intake -------------------------------------------------------------------------------------


def test_anyone_signed_in_proposes_an_intake_and_reads_the_funnel(outsider_user, auditor_user, team):
    body = {**INTAKE_POST, "daily_volume": 1200, "team": team.slug}
    created = _api(outsider_user).post("/api/v1/intakes/", body, format="json")
    assert created.status_code == 201, created.content
    item = Intake.objects.get()
    assert created.json()["status"] == "submitted" and created.json()["verdict"] == "unscored"
    assert item.proposer == outsider_user and item.team == team and item.score_scope is None
    listed = _api(auditor_user).get("/api/v1/intakes/?status=submitted")
    assert listed.status_code == 200 and [r["id"] for r in listed.json()["results"]] == [item.pk]
    assert _api(auditor_user).get(f"/api/v1/intakes/{item.pk}/").json()["title"] == INTAKE_POST["title"]
    assert _api().get("/api/v1/intakes/").status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"daily_volume": "many"}, "daily_volume"),
        ({"daily_volume": -3}, "daily_volume"),
        ({"title": "x" * 121}, "title"),
        ({"team": "no-such-team"}, "team"),
        ({"scope_answer": None}, "scope_answer"),
    ],
)
def test_a_bad_intake_is_a_400_naming_the_field_and_stores_nothing(outsider_user, change, field):
    response = _api(outsider_user).post("/api/v1/intakes/", {**INTAKE_POST, **change}, format="json")
    assert response.status_code == 400 and field in _fields(response), response.content
    assert not Intake.objects.exists()


def test_only_the_board_scores_never_its_own_proposal_and_bad_scores_change_nothing(
    board_user, owner_user, outsider_user
):
    item = Intake.objects.create(proposer=outsider_user, **{**INTAKE_POST, "daily_volume": 1200})
    url = f"/api/v1/intakes/{item.pk}/score/"
    assert _api(owner_user).post(url, WORKED_EXAMPLE, format="json").status_code == 403
    for bad in ({**WORKED_EXAMPLE, "score_scope": 6}, {**WORKED_EXAMPLE, "score_data": True}, {"score_scope": 5}):
        response = _api(board_user).post(url, bad, format="json")
        assert response.status_code == 400, (bad, response.content)
    item.refresh_from_db()
    assert item.status == "submitted" and item.score_scope is None
    scored = _api(board_user).post(url, {**WORKED_EXAMPLE, "bonus_value": 3, "note": "Strong."}, format="json")
    assert scored.status_code == 200, scored.content
    assert scored.json()["core_total"] == 23 and scored.json()["verdict"] == "go"
    own = Intake.objects.create(proposer=board_user, **{**INTAKE_POST, "daily_volume": 5})
    refused = _api(board_user).post(f"/api/v1/intakes/{own.pk}/score/", WORKED_EXAMPLE, format="json")
    assert refused.status_code == 409 and "another board member" in refused.json()["errors"][0]["message"]
    assert _api(board_user).post("/api/v1/intakes/999999/score/", WORKED_EXAMPLE, format="json").status_code == 404
    assert _api(board_user).post("/api/v1/intakes/abc/score/", WORKED_EXAMPLE, format="json").status_code == 404


# --- documents ----------------------------------------------------------------------------------


def test_the_owner_adds_a_link_and_a_file_and_readers_list_them(agent, owner_user, auditor_user, outsider_user):
    link = {"agent": agent.slug, "kind": "agent_card", "title": "Card", "url": "https://wiki.example/card",
            "review_due": _later()}  # fmt: skip
    created = _api(owner_user).post("/api/v1/documents/", link, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["version"] == 1 and created.json()["owner"] == owner_user.username
    upload = {**link, "kind": "runbook", "url": "", "file": SimpleUploadedFile("runbook.md", b"# Runbook\n")}
    uploaded = _api(owner_user).post("/api/v1/documents/", upload, format="multipart")
    assert uploaded.status_code == 201, uploaded.content
    doc = AgentDocument.objects.get(kind="runbook")
    assert doc.size_bytes == 10 and uploaded.json()["download_url"].endswith(f"/documents/{doc.pk}/file/")
    listed = _api(auditor_user).get(f"/api/v1/documents/?agent={agent.slug}&kind=runbook").json()["results"]
    assert [d["id"] for d in listed] == [doc.pk] and listed[0]["current"] is True
    assert _api(outsider_user).get("/api/v1/documents/").json()["results"] == []  # sees no agent
    assert _api(auditor_user).get("/api/v1/documents/?kind=bogus").status_code == 400


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"file": SimpleUploadedFile("x.exe", b"MZ")}, "file", "not accepted"),
        ({"file": SimpleUploadedFile("a.pdf", b"not a pdf")}, "file", "not a PDF"),
        ({"file": SimpleUploadedFile("eicar.txt", EICAR)}, "file", ""),
        ({"file": SimpleUploadedFile("a.md", b"a"), "url": "https://x.example"}, "file", "one of them"),
        ({}, "file", "one of them"),
        ({"url": "https://x.example", "review_due": "2001-01-01"}, "review_due", "past"),
        ({"url": "https://x.example", "kind": "poem"}, "kind", ""),
        ({"url": "https://x.example", "owner": "nobody"}, "owner", ""),
        ({"url": "https://x.example", "agent": "no-such-agent"}, "agent", "No agent"),
        ({"url": "not a url"}, "url", ""),
    ],
)
def test_bad_document_input_is_a_400_and_stores_nothing(agent, owner_user, settings, change, field, message):
    settings.QUORUM_VIRUS_SCAN_COMMAND = FAKE_SCANNER
    body = {"agent": agent.slug, "kind": "runbook", "title": "Runbook", "review_due": _later(), **change}
    response = _api(owner_user).post("/api/v1/documents/", body, format="multipart")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(e["field"] == field and message in e["message"] for e in errors), errors
    assert not AgentDocument.objects.exists()


def test_only_those_who_may_edit_the_agent_add_documents(agent, other_owner_user, auditor_user):
    body = {"agent": agent.slug, "kind": "runbook", "title": "R", "url": "https://x.example", "review_due": _later()}
    for user in (other_owner_user, auditor_user):
        assert _api(user).post("/api/v1/documents/", body, format="json").status_code == 403
    assert _api().post("/api/v1/documents/", body, format="json").status_code == 401
    assert not AgentDocument.objects.exists()


# --- impact assessments ---------------------------------------------------------------------------


def test_the_owner_writes_an_assessment_that_waits_for_two_approvers(agent, owner_user, auditor_user, outsider_user):
    body = {"agent": agent.slug, "kind": "fria", "answers": FRIA_ANSWERS, "valid_until": _later(365),
            "status": "approved", "approved_at": "2020-01-01T00:00:00Z"}  # fmt: skip
    created = _api(owner_user).post("/api/v1/impact-assessments/", body, format="json")
    assert created.status_code == 201, created.content
    a = ImpactAssessment.objects.get()
    # Sent fields that are not the serializer's (status, approved_at) are ignored: it waits for approval.
    assert a.status == "pending" and a.approved_at is None and created.json()["status"] == "pending"
    request = ApprovalRequest.objects.get(pk=created.json()["request"])
    assert request.kind == "impact_assessment" and request.policy_snapshot["required_approvals"] == 2
    detail = _api(auditor_user).get(f"/api/v1/impact-assessments/{a.pk}/")
    assert detail.status_code == 200 and detail.json()["answers"] == FRIA_ANSWERS
    assert _api(outsider_user).get(f"/api/v1/impact-assessments/{a.pk}/").status_code == 404
    assert _api(auditor_user).get("/api/v1/impact-assessments/abc/").status_code == 404
    assert [r["id"] for r in _api(auditor_user).get("/api/v1/impact-assessments/?status=pending").json()["results"]]
    # No method approves it here: the viewset has no update, and the admin shows it read-only.
    for method in ("put", "patch", "delete"):
        answer = getattr(_api(owner_user), method)(f"/api/v1/impact-assessments/{a.pk}/", {"status": "approved"})
        assert answer.status_code == 405
    a.refresh_from_db()
    assert a.status == "pending"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"answers": {**FRIA_ANSWERS, "risks": ""}}, "risks"),
        ({"answers": {**FRIA_ANSWERS, "extra": "x"}}, "answers"),
        ({"answers": {**FRIA_ANSWERS, "risks": "x" * 4001}}, "answers.risks"),
        ({"answers": ["not", "an", "object"]}, "answers"),
        ({"answers": {**FRIA_ANSWERS, "risks": 7}}, "answers.risks"),
        ({"valid_until": "2001-01-01"}, "valid_until"),
        ({"valid_until": "soon"}, "valid_until"),
        ({"kind": "ria"}, "kind"),
        ({"agent": "no-such-agent"}, "agent"),
    ],
)
def test_a_bad_assessment_is_a_400_and_stores_nothing(agent, owner_user, change, field):
    body = {"agent": agent.slug, "kind": "fria", "answers": FRIA_ANSWERS, "valid_until": _later(365), **change}
    response = _api(owner_user).post("/api/v1/impact-assessments/", body, format="json")
    assert response.status_code == 400 and field in _fields(response), response.content
    assert not ImpactAssessment.objects.exists() and not ApprovalRequest.objects.exists()


def test_only_those_who_may_edit_the_agent_write_assessments(agent, auditor_user, other_owner_user):
    body = {"agent": agent.slug, "kind": "dpia", "answers": {}, "valid_until": _later(365)}
    for user in (auditor_user, other_owner_user):
        assert _api(user).post("/api/v1/impact-assessments/", body, format="json").status_code == 403
    assert not ImpactAssessment.objects.exists()


@pytest.mark.parametrize(
    "url", ["/api/v1/intakes/", "/api/v1/intakes/1/score/", "/api/v1/documents/", "/api/v1/impact-assessments/"]
)
@pytest.mark.parametrize("body", [[1, 2], "text", {"agent": ["x"], "kind": {"a": 1}}, {}], ids=str)
def test_no_body_gives_a_5xx(board_user, agent, url, body):
    Intake.objects.create(pk=1, proposer=UserFactory(), **{**INTAKE_POST, "daily_volume": 1})
    response = _api(board_user).post(url, body, format="json")
    assert response.status_code in (400, 403), response.content


# --- the admin: no side door ---------------------------------------------------------------------


def test_the_admin_shows_compliance_records_read_only(client, agent, owner_user):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    _api(owner_user).post(
        "/api/v1/impact-assessments/",
        {"agent": agent.slug, "kind": "fria", "answers": FRIA_ANSWERS, "valid_until": _later(365)},
        format="json",
    )
    a = ImpactAssessment.objects.get()
    client.force_login(root)
    for model in ("intake", "agentdocument", "impactassessment", "seriousincident", "killswitchdrill"):
        assert client.get(f"/admin/compliance/{model}/").status_code == 200, model
        assert client.get(f"/admin/compliance/{model}/add/").status_code == 403, model
    url = f"/admin/compliance/impactassessment/{a.pk}/change/"
    assert client.get(url).status_code == 200  # shown, not editable
    client.post(url, {"status": "approved"})
    client.post(f"/admin/compliance/impactassessment/{a.pk}/delete/", {"post": "yes"})
    a.refresh_from_db()
    assert a.status == "pending"


def test_the_readme_documents_the_api():
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for path in ("/api/v1/intakes/", "/api/v1/documents/", "/api/v1/impact-assessments/"):
        assert path in text, path
