"""The documentation gate (issue 21, item 2): documents as files or links, versioned, with an owner
and a review date; go-live and new versions blocked while the tier's documents are missing or
expired, unblocked when supplied; the agent card as A2A JSON and a printable page."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from approvals.services import decision_record, request_create
from compliance import documents
from compliance.choices import DocumentKind
from compliance.models import AgentDocument
from tests.factories import AgentVersionFactory

pytestmark = pytest.mark.django_db

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# The test double for clamdscan: reads stdin, exit 1 on the EICAR test string, 0 otherwise.
SCANNER_CODE = "import sys; sys.exit(1 if b'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' in sys.stdin.buffer.read() else 0)"
FAKE_SCANNER = f'{sys.executable} -c "{SCANNER_CODE}"'
TIER_2 = [DocumentKind.AGENT_CARD, DocumentKind.RUNBOOK, DocumentKind.ARCHITECTURE, DocumentKind.GOLDEN_SET]


def _later(days=90):
    return timezone.localdate() + timedelta(days=days)


def _add(agent, user, kind, **kwargs):
    kwargs.setdefault("url", f"https://wiki.example/{agent.slug}/{kind}" if "upload" not in kwargs else "")
    return documents.document_add(
        agent=agent,
        kind=kind,
        title=f"{kind} doc",
        owner=user,
        review_due=kwargs.pop("review_due", _later()),
        user=user,
        **kwargs,
    )


def _approved_new_version(agent, owner_user, approvers):
    version = AgentVersionFactory(agent=agent, label="9.0")
    req = request_create(
        agent=agent,
        kind="new_version",
        payload={"version": version.label},
        requester=owner_user,
        justification="Better refunds",
        policy={"checklist": []},
    )
    for approver in approvers:
        decision_record(
            request_id=req.pk, approver=approver, verdict="approve", reason="ok", payload_hash=req.payload_hash
        )
    req.refresh_from_db()
    return req


def test_go_live_is_blocked_for_missing_documents_and_unblocked_when_supplied(
    client, agent, owner_user, approvers, only_compliance_gates, django_capture_on_commit_callbacks
):
    req = _approved_new_version(agent, owner_user, approvers)
    assert req.status == "approved"
    assert req.blocked_reason == (
        "Documentation gate (tier 2): missing agent card, runbook (failure modes and recovery), "
        "architecture and data-flow diagram, golden set."
    )
    client.force_login(owner_user)
    page = client.get(reverse("approvals:request_detail", args=[req.pk])).content.decode()
    assert "missing agent card" in page  # the request page says which are missing
    for kind in TIER_2[:-1]:
        with django_capture_on_commit_callbacks(execute=True):
            _add(agent, owner_user, kind)
    req.refresh_from_db()
    assert req.status == "approved" and req.blocked_reason == "Documentation gate (tier 2): missing golden set."
    with django_capture_on_commit_callbacks(execute=True):
        _add(agent, owner_user, DocumentKind.GOLDEN_SET)  # retried on commit: nothing else holds it
    req.refresh_from_db()
    assert req.status == "applied"


def test_go_live_is_blocked_for_an_expired_document_until_a_new_version(
    agent, owner_user, approvers, only_compliance_gates, django_capture_on_commit_callbacks
):
    for kind in TIER_2:
        _add(agent, owner_user, kind)
    AgentDocument.objects.filter(kind=DocumentKind.RUNBOOK).update(review_due=timezone.localdate() - timedelta(days=1))
    req = _approved_new_version(agent, owner_user, approvers)
    assert req.status == "approved"
    assert "expired runbook (failure modes and recovery) (review was due" in req.blocked_reason
    with django_capture_on_commit_callbacks(execute=True):
        doc = _add(agent, owner_user, DocumentKind.RUNBOOK)
    assert doc.version == 2  # a new version; the expired one stays as history
    req.refresh_from_db()
    assert req.status == "applied"


def test_the_tier_decides_which_documents_are_required(agent, owner_user):
    agent.risk_tier = 3
    assert [s.kind for s in documents.documents_required_state(agent)] == ["agent_card", "runbook"]
    agent.risk_tier = 1
    assert "privacy_signoff" in [s.kind for s in documents.documents_required_state(agent)]


def test_the_gate_only_concerns_releases():
    class Req:
        kind = "tool_grant"
        agent = None

    assert documents.documentation_gate(Req()) is None


def test_a_file_is_stored_hashed_and_downloaded_only_by_those_who_see_the_agent(client, agent, owner_user, settings):
    body = b"# Runbook\n\nProvider outage: fail over.\n"
    doc = _add(agent, owner_user, DocumentKind.RUNBOOK, upload=SimpleUploadedFile("runbook.md", body))
    assert doc.file.name.startswith(f"documents/{agent.pk}/runbook/v1-") and doc.size_bytes == len(body)
    assert doc.file.path.startswith(settings.MEDIA_ROOT)
    client.force_login(owner_user)
    response = client.get(reverse("compliance:document_download", args=[agent.slug, doc.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == body
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("tool.exe", b"MZ...", "not accepted"),
        ("card.pdf", b"<html>not a pdf</html>", "not a PDF file"),
        ("empty.md", b"", "empty"),
        ("bin.txt", b"\xff\xfe\x00bad", "UTF-8"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(agent, owner_user, name, content, message):
    with pytest.raises(ValidationError, match=message):
        _add(agent, owner_user, DocumentKind.AGENT_CARD, upload=SimpleUploadedFile(name, content))
    assert not AgentDocument.objects.exists()


def test_a_file_over_the_size_limit_is_refused(agent, owner_user, settings):
    settings.QUORUM_DOCUMENT_MAX_BYTES = 10
    with pytest.raises(ValidationError, match="larger than"):
        _add(agent, owner_user, DocumentKind.AGENT_CARD, upload=SimpleUploadedFile("a.txt", b"x" * 11))


def test_the_virus_scan_command_rejects_eicar_and_passes_a_clean_file(agent, owner_user, settings):
    settings.QUORUM_VIRUS_SCAN_COMMAND = FAKE_SCANNER
    with pytest.raises(ValidationError, match="found a threat"):
        _add(agent, owner_user, DocumentKind.RUNBOOK, upload=SimpleUploadedFile("eicar.txt", EICAR))
    assert not AgentDocument.objects.exists()
    doc = _add(agent, owner_user, DocumentKind.RUNBOOK, upload=SimpleUploadedFile("ok.txt", b"clean runbook"))
    assert doc.version == 1


def test_a_scanner_that_cannot_run_refuses_the_upload(agent, owner_user, settings):
    settings.QUORUM_VIRUS_SCAN_COMMAND = "/nonexistent/clamdscan -"
    with pytest.raises(ValidationError, match="did not answer"):
        _add(agent, owner_user, DocumentKind.RUNBOOK, upload=SimpleUploadedFile("ok.txt", b"clean"))


def test_a_file_and_a_link_together_or_neither_or_a_past_review_date_are_refused(agent, owner_user):
    with pytest.raises(ValidationError, match="one of them"):
        _add(agent, owner_user, DocumentKind.RUNBOOK, upload=SimpleUploadedFile("a.txt", b"a"), url="https://x.example")
    with pytest.raises(ValidationError, match="one of them"):
        documents.document_add(
            agent=agent, kind="runbook", title="t", owner=owner_user, review_due=_later(), user=owner_user
        )
    with pytest.raises(ValidationError, match="in the past"):
        _add(agent, owner_user, DocumentKind.RUNBOOK, review_due=timezone.localdate() - timedelta(days=1))
    assert not AgentDocument.objects.exists()


def test_only_those_who_may_edit_the_agent_add_documents(client, agent, other_owner_user, auditor_user):
    with pytest.raises(PermissionDenied):
        _add(agent, other_owner_user, DocumentKind.RUNBOOK)
    client.force_login(auditor_user)
    url = reverse("compliance:agent_documents", args=[agent.slug])
    assert client.get(url).status_code == 200
    assert client.post(url, {"kind": "runbook"}).status_code == 403
    assert not AgentDocument.objects.exists()


def test_the_upload_page_adds_a_version_and_bad_input_is_a_400(client, agent, owner_user):
    client.force_login(owner_user)
    url = reverse("compliance:agent_documents", args=[agent.slug])
    post = {"kind": "runbook", "title": "Runbook", "owner": owner_user.pk, "review_due": _later().isoformat()}
    bad = client.post(url, {**post, "file": SimpleUploadedFile("x.exe", b"MZ")})
    assert bad.status_code == 400 and "not accepted" in bad.content.decode()
    neither = client.post(url, post)
    assert neither.status_code == 400 and "one of them" in neither.content.decode()
    assert client.post(url, {**post, "kind": "nonsense", "url": "https://x.example"}).status_code == 400
    assert not AgentDocument.objects.exists()
    ok = client.post(url, {**post, "file": SimpleUploadedFile("runbook.md", b"# Runbook")})
    assert ok.status_code == 302
    assert AgentDocument.objects.get().version == 1


def test_the_agent_card_exports_as_a2a_json_and_a_printable_page(client, agent, owner_user, auditor_user):
    from tests.factories import ToolFactory, ToolGrantFactory

    version = AgentVersionFactory(agent=agent, label="3.1")
    ToolGrantFactory(version=version, tool=ToolFactory(name="tickets.read", system="Zendesk"))
    type(version).objects.filter(pk=version.pk).update(state="deployed")
    _add(agent, owner_user, DocumentKind.AGENT_CARD)
    client.force_login(auditor_user)
    response = client.get(reverse("compliance:agent_card_json", args=[agent.slug]))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    card = json.loads(response.content)
    assert {"protocolVersion", "name", "description", "url", "version", "provider", "capabilities", "skills"} <= set(
        card
    )
    assert card["name"] == agent.name and card["version"] == "3.1"
    assert [s["id"] for s in card["skills"]] == ["tickets.read"]
    governance = card["capabilities"]["extensions"][0]["params"]
    assert governance["riskTier"] == 2 and governance["documents"]["agent_card"]["status"] == "current"
    assert governance["documents"]["runbook"]["status"] == "missing"
    page = client.get(reverse("compliance:agent_card_print", args=[agent.slug]))
    assert page.status_code == 200 and "tickets.read" in page.content.decode()


def test_the_agent_page_says_what_the_gate_misses(client, agent, owner_user):
    client.force_login(owner_user)
    page = client.get(agent.get_absolute_url()).content.decode()
    assert 'data-testid="documents-missing"' in page and "missing agent card" in page


def test_the_agent_card_section_costs_a_fixed_number_of_queries(rf, agent, owner_user):
    """Every agent page asks both gates; each is one query whatever the number of documents."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compliance.documents_panels import documents_agent_section

    agent.risk_tier = 1
    for kind in TIER_2:
        for _ in range(3):
            _add(agent, owner_user, kind)
    request = rf.get("/")
    request.user = owner_user
    with CaptureQueriesContext(connection) as queries:
        section = documents_agent_section(request, agent)
    assert "missing privacy sign-off" in section["missing"]
    assert len(queries) == 3  # documents, current FRIA, last approved FRIA


def test_a_pending_release_request_page_says_which_documents_it_will_wait_for(
    client, agent, owner_user, only_compliance_gates
):
    version = AgentVersionFactory(agent=agent, label="9.1")
    req = request_create(
        agent=agent,
        kind="new_version",
        payload={"version": version.label},
        requester=owner_user,
        justification="Next",
        policy={"checklist": []},
    )
    _add(agent, owner_user, DocumentKind.AGENT_CARD)
    client.force_login(owner_user)
    page = client.get(reverse("approvals:request_detail", args=[req.pk])).content.decode()
    assert 'data-testid="gates-preview"' in page
    assert "missing runbook (failure modes and recovery), architecture and data-flow diagram, golden set" in page
    for kind in TIER_2[1:]:
        _add(agent, owner_user, kind)
    assert (
        'data-testid="gates-preview"'
        not in client.get(reverse("approvals:request_detail", args=[req.pk])).content.decode()
    )
