"""Impact assessments (issue 21, item 3): FRIA and DPIA as structured forms, versioned, approved
under the two-person rule; a tier-1 agent does not go live without an approved, current FRIA."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from approvals.exceptions import ApprovalError
from approvals.kinds import kind_get
from approvals.services import decision_record, request_create
from compliance import assessments
from compliance.choices import AssessmentKind, AssessmentStatus, DocumentKind
from compliance.documents import document_add
from compliance.models import ImpactAssessment
from registry import roles
from tests.factories import AgentVersionFactory, UserFactory

pytestmark = pytest.mark.django_db

FRIA = {key: f"Answer to {key}." for key, _ in assessments.QUESTIONS[AssessmentKind.FRIA]}
DPIA = {key: f"Answer to {key}." for key, _ in assessments.QUESTIONS[AssessmentKind.DPIA]}


def _later(days=365):
    return timezone.localdate() + timedelta(days=days)


def _approve(assessment, *users):
    for user in users:
        req = assessment.request
        req.refresh_from_db()
        decision_record(
            request_id=req.pk, approver=user, verdict="approve", reason="Read it.", payload_hash=req.payload_hash
        )
    assessment.refresh_from_db()
    return assessment


@pytest.fixture
def tier1(agent, owner_user):
    """The agent at tier 1 with every document it needs, so only the FRIA can hold a release."""
    agent.risk_tier = 1
    agent.save(update_fields=["risk_tier"])
    for kind in DocumentKind.values:
        document_add(
            agent=agent,
            kind=kind,
            title=kind,
            owner=owner_user,
            review_due=_later(90),
            user=owner_user,
            url=f"https://wiki.example/{kind}",
        )
    return agent


def test_an_assessment_needs_two_approvers_neither_its_author(agent, owner_user, approvers):
    a = assessments.assessment_submit(agent=agent, kind="dpia", answers=DPIA, valid_until=_later(), author=owner_user)
    assert a.version == 1 and a.status == AssessmentStatus.PENDING and a.request.kind == "impact_assessment"
    assert a.request.policy_snapshot["required_approvals"] >= 2
    spec = kind_get("impact_assessment")
    assert spec.min_approvals == 2 and spec.lowers_control
    with pytest.raises(ApprovalError):
        decision_record(
            request_id=a.request.pk,
            approver=owner_user,
            verdict="approve",
            reason="mine",
            payload_hash=a.request.payload_hash,
        )
    _approve(a, approvers[0])
    assert a.status == AssessmentStatus.PENDING  # one approval is not enough
    _approve(a, approvers[1])
    assert a.status == AssessmentStatus.APPROVED and a.approved_at is not None
    assert assessments.assessment_current(agent, "dpia") == a


def test_a_new_approved_version_supersedes_the_old_and_a_denied_one_is_rejected(agent, owner_user, approvers):
    v1 = _approve(
        assessments.assessment_submit(agent=agent, kind="dpia", answers=DPIA, valid_until=_later(), author=owner_user),
        *approvers,
    )
    v2 = assessments.assessment_submit(
        agent=agent, kind="dpia", answers={**DPIA, "risks": "New risks."}, valid_until=_later(), author=owner_user
    )
    assert v2.version == 2
    _approve(v2, *approvers)
    v1.refresh_from_db()
    assert (v1.status, v2.status) == (AssessmentStatus.SUPERSEDED, AssessmentStatus.APPROVED)
    v3 = assessments.assessment_submit(agent=agent, kind="dpia", answers=DPIA, valid_until=_later(), author=owner_user)
    decision_record(
        request_id=v3.request.pk,
        approver=approvers[0],
        verdict="deny",
        reason="Vague.",
        payload_hash=v3.request.payload_hash,
    )
    v3.refresh_from_db()
    assert v3.status == AssessmentStatus.REJECTED
    assert assessments.assessment_current(agent, "dpia") == v2


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({**FRIA, "risks": "  "}, "risks"),
        ({**FRIA, "extra": "x"}, "answers"),
        ({**FRIA, "process": "x" * 4001}, "process"),
    ],
)
def test_bad_answers_are_refused_and_nothing_is_stored(agent, owner_user, answers, field):
    with pytest.raises(ValidationError) as exc:
        assessments.assessment_submit(
            agent=agent, kind="fria", answers=answers, valid_until=_later(), author=owner_user
        )
    assert field in exc.value.message_dict
    assert not ImpactAssessment.objects.exists()


def test_only_those_who_may_edit_the_agent_write_one(agent, other_owner_user):
    with pytest.raises(PermissionDenied):
        assessments.assessment_submit(
            agent=agent, kind="fria", answers=FRIA, valid_until=_later(), author=other_owner_user
        )


def _approved_go_live(agent, owner_user, approvers, board):
    version = AgentVersionFactory(agent=agent, label="2.0", state="approved")
    req = request_create(
        agent=agent,
        kind="go_live",
        payload={"version": version.label},
        requester=owner_user,
        justification="Ship it.",
        policy={"checklist": []},
    )
    for user in [*approvers, board]:
        req.refresh_from_db()
        if req.status != "pending":
            break
        decision_record(request_id=req.pk, approver=user, verdict="approve", reason="ok", payload_hash=req.payload_hash)
    req.refresh_from_db()
    return req


def test_a_tier1_agent_cannot_go_live_without_an_approved_fria_then_can(
    client, tier1, owner_user, approvers, board_outside, only_compliance_gates, django_capture_on_commit_callbacks
):
    req = _approved_go_live(tier1, owner_user, approvers, board_outside)
    assert req.status == "approved"
    assert (
        req.blocked_reason
        == "Tier-1 agent without an approved fundamental-rights impact assessment (EU AI Act Art. 27)."
    )
    client.force_login(owner_user)
    assert (
        "fundamental-rights impact assessment"
        in client.get(reverse("approvals:request_detail", args=[req.pk])).content.decode()
    )
    fria = assessments.assessment_submit(
        agent=tier1, kind="fria", answers=FRIA, valid_until=_later(), author=owner_user
    )
    with django_capture_on_commit_callbacks(execute=True):
        _approve(fria, *approvers, board_outside)
    assert fria.status == AssessmentStatus.APPROVED
    req.refresh_from_db()
    assert req.status == "applied"  # retried when the FRIA's approval committed


def test_an_expired_or_only_pending_fria_still_blocks(tier1, owner_user, approvers, board_outside):
    fria = assessments.assessment_submit(
        agent=tier1, kind="fria", answers=FRIA, valid_until=_later(), author=owner_user
    )

    class Req:
        kind = "go_live"
        agent = tier1

    assert "without an approved" in assessments.fria_gate(Req())  # pending is not approved
    _approve(fria, *approvers, board_outside)
    assert assessments.fria_gate(Req()) is None
    ImpactAssessment.objects.filter(pk=fria.pk).update(valid_until=timezone.localdate() - timedelta(days=1))
    assert "version 1 was valid until" in assessments.fria_gate(Req())
    Req.agent.risk_tier = 2
    assert assessments.fria_gate(Req()) is None  # the FRIA rule is tier 1's


def test_the_pages_write_and_show_an_assessment(client, agent, owner_user, auditor_user):
    client.force_login(owner_user)
    url = reverse("compliance:assessment_create", args=[agent.slug, "fria"])
    assert client.get(url).status_code == 200
    bad = client.post(url, {**FRIA, "risks": "", "valid_until": _later().isoformat()})
    assert bad.status_code == 400 and 'data-field="risks"' in bad.content.decode()
    past = client.post(url, {**FRIA, "valid_until": "2000-01-01"})
    assert past.status_code == 400
    assert not ImpactAssessment.objects.exists()
    response = client.post(url, {**FRIA, "valid_until": _later().isoformat()})
    a = ImpactAssessment.objects.get()
    assert response.status_code == 302 and response.url == a.get_absolute_url()
    assert client.get(reverse("compliance:assessment_create", args=[agent.slug, "nope"])).status_code == 404
    request_page = client.get(reverse("approvals:request_detail", args=[a.request_id]))
    assert request_page.status_code == 200 and "Approved FRIA" in request_page.content.decode()
    client.force_login(auditor_user)
    assert client.get(a.get_absolute_url()).status_code == 200
    assert client.get(reverse("compliance:agent_assessments", args=[agent.slug])).status_code == 200
    assert client.post(url, {**FRIA, "valid_until": _later().isoformat()}).status_code == 403


def test_no_door_approves_an_assessment_but_its_request(agent, owner_user, approvers):
    """The status is a governed field (registry.governance): tests/test_governed_doors.py submits
    every form and API with it changed; here the kind refuses a second request for one version."""
    a = assessments.assessment_submit(agent=agent, kind="fria", answers=FRIA, valid_until=_later(), author=owner_user)
    with pytest.raises(ValidationError):
        request_create(
            agent=agent,
            kind="impact_assessment",
            payload={"assessment_id": a.pk},
            requester=owner_user,
            justification="again",
        )


EVERY_ROLE = [
    roles.GOVERNANCE_BOARD,
    roles.APPROVER,
    roles.AGENT_OWNER,
    roles.OPERATOR,
    roles.EXECUTIVE,
    roles.AUDITOR,
    None,
]


@pytest.mark.parametrize("role", EVERY_ROLE)
def test_every_role_reaches_every_compliance_page(client, agent, owner_user, role):
    from compliance.models import Intake

    a = assessments.assessment_submit(agent=agent, kind="fria", answers=FRIA, valid_until=_later(), author=owner_user)
    doc = document_add(
        agent=agent,
        kind="runbook",
        title="r",
        owner=owner_user,
        review_due=_later(),
        user=owner_user,
        url="https://wiki.example/r",
    )
    item = Intake.objects.create(
        proposer=owner_user,
        title="T",
        problem="p",
        unit_of_work="u",
        daily_volume=100,
        data_involved="d",
        systems_touched="s",
        human_baseline="h",
        kpi_name="k",
        scope_answer="a",
        volume_answer="a",
        failure_answer="a",
        data_answer="a",
        metric_answer="a",
    )
    user = UserFactory(username=f"every-{role or 'none'}", roles=[role] if role else [])
    client.force_login(user)
    sees_agent = user.has_perm("registry.view_agent")
    pages = {
        reverse("compliance:intake_list"): 200,
        reverse("compliance:intake_create"): 200,
        item.get_absolute_url(): 200,
        reverse("compliance:agent_documents", args=[agent.slug]): 200 if sees_agent else 404,
        reverse("compliance:agent_card_json", args=[agent.slug]): 200 if sees_agent else 404,
        reverse("compliance:agent_card_print", args=[agent.slug]): 200 if sees_agent else 404,
        reverse("compliance:agent_assessments", args=[agent.slug]): 200 if sees_agent else 404,
        a.get_absolute_url(): 200 if sees_agent else 404,
        reverse("compliance:document_download", args=[agent.slug, doc.pk]): 404,  # a link, not a file
    }
    got = {url: client.get(url).status_code for url in pages}
    assert got == pages


def test_every_status_change_is_in_the_audit_log(agent, owner_user, approvers):
    from auditlog.models import LogEntry

    v1 = _approve(
        assessments.assessment_submit(agent=agent, kind="dpia", answers=DPIA, valid_until=_later(), author=owner_user),
        *approvers,
    )
    _approve(
        assessments.assessment_submit(agent=agent, kind="dpia", answers=DPIA, valid_until=_later(), author=owner_user),
        *approvers,
    )
    statuses = [e.changes_dict.get("status") for e in LogEntry.objects.get_for_object(v1).order_by("timestamp")]
    assert ["pending", "approved"] in statuses and ["approved", "superseded"] in statuses
