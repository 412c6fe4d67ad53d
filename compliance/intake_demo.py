"""Demo data for intake, documents and impact assessments (``manage.py seed_demo``; idempotent).

Customer Support Triage (tier 1, production) has every document current and an approved FRIA
and DPIA: the agent with full evidence. Refund Assistant (tier 1, pilot) has gaps: its agent
card only, a runbook past its review date, no architecture diagram, golden set or privacy
sign-off, and its FRIA still awaiting the second approver."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from approvals.exceptions import ApprovalError
from approvals.services import decision_record
from registry.models import Agent, Team

from . import assessments, documents, intake
from .choices import AssessmentKind, DocumentKind, IntakeStatus
from .models import AgentDocument, ImpactAssessment, Intake

FULL, GAPS = "support-triage", "refund-assistant"

INTAKES = [
    # title, proposer, team, volume, scores (None: awaiting the board), answers
    (
        "Order status and returns",
        "owner",
        "customer-support",
        4000,
        {"score_scope": 5, "score_volume": 5, "score_failure": 4, "score_data": 4, "score_metric": 5, "bonus_value": 2},
    ),
    (
        "Marketing copilot for everything",
        "owner2",
        "sales",
        15,
        {"score_scope": 1, "score_volume": 2, "score_failure": 3, "score_data": 2, "score_metric": 1},
    ),
    ("Supplier inquiry triage", "owner2", "it-ops", 300, None),
]

FRIA = {
    "process": "Tier-1 customer support: answers, refunds within policy, escalation with a summary.",
    "period": "Around the clock, about 2,000 conversations a day.",
    "affected": "Customers of the web shop, including vulnerable customers and minors with parental accounts.",
    "risks": "Wrongly refused refunds; unequal treatment by language; disclosure of another customer's data.",
    "oversight": "Refunds above 100 USD need a person; agents review a daily sample; the kill switch is drilled.",
    "mitigation": "Complaints reach a human within a day; incidents follow the runbook; refunds are reversible.",
}
DPIA = {
    "processing": "Reads tickets and order history to resolve support requests.",
    "data_categories": "Names, e-mail addresses, order history of customers; no special categories.",
    "lawful_basis": "Contract (Art. 6(1)(b)); transcripts kept 13 months.",
    "necessity": "Only the ticket's customer and orders are read; no profiling.",
    "risks": "Disclosure to the wrong customer; over-retention.",
    "measures": "Identity check before account details; retention purge; access logged on the audit chain.",
}


def _runbook() -> SimpleUploadedFile:
    body = "# Runbook\n\n" + "\n".join(
        f"## {mode}\n\nDetection, recovery, owner.\n" for mode in documents.RUNBOOK_FAILURE_MODES
    )
    return SimpleUploadedFile("runbook.md", body.encode(), content_type="text/markdown")


def _seed_intakes(users, stdout) -> None:
    for title, proposer, team_slug, volume, scores in INTAKES:
        if Intake.objects.filter(title=title).exists() or proposer not in users:
            continue
        item = Intake.objects.create(
            title=title,
            problem=f"{title}: people do this by hand today.",
            unit_of_work="request handled",
            daily_volume=volume,
            data_involved="Ticket text, order records",
            systems_touched="Ticketing (read), order system (read)",
            human_baseline="9 minutes per request",
            kpi_name="resolution rate",
            scope_answer="See the problem.",
            volume_answer=f"{volume} a day.",
            failure_answer="Reversible, reviewed by a person.",
            data_answer="Documented in the knowledge base.",
            metric_answer="Resolution rate.",
            team=Team.objects.filter(slug=team_slug).first(),
            proposer=users[proposer],
            status=IntakeStatus.SUBMITTED,
        )
        if scores is not None and "board" in users:
            intake.intake_score(intake_id=item.pk, scorer=users["board"], scores=scores, note="Demo scoring.")


def _seed_documents(agent, owner, *, full: bool) -> None:
    today = timezone.localdate()
    if AgentDocument.objects.filter(agent=agent).exists():
        return
    kinds = list(DocumentKind.values) if full else [DocumentKind.AGENT_CARD, DocumentKind.RUNBOOK]
    for kind in kinds:
        upload = _runbook() if kind == DocumentKind.RUNBOOK else None
        url = "" if upload else f"https://docs.quorum.example/{agent.slug}/{kind}"
        documents.document_add(
            agent=agent,
            kind=kind,
            title=f"{agent.name}: {DocumentKind(kind).label}",
            owner=owner,
            review_due=today + timedelta(days=180),
            user=owner,
            upload=upload,
            url=url,
        )
    if not full:
        # The gap: the runbook's review date passed (set behind the service, which refuses a past date).
        AgentDocument.objects.filter(agent=agent, kind=DocumentKind.RUNBOOK).update(
            review_due=today - timedelta(days=10)
        )


def _seed_assessment(agent, kind, answers, users, approvers) -> None:
    if ImpactAssessment.objects.filter(agent=agent, kind=kind).exists():
        return
    a = assessments.assessment_submit(
        agent=agent,
        kind=kind,
        answers=answers,
        valid_until=timezone.localdate() + timedelta(days=365),
        author=agent.owner,
    )
    for name in approvers:
        req = a.request
        req.refresh_from_db()
        decision_record(
            request_id=req.pk,
            approver=users[name],
            verdict="approve",
            reason="Demo review.",
            payload_hash=req.payload_hash,
        )


def seed_intake_documents(stdout=None, **_kwargs) -> None:
    users = {u.username: u for u in get_user_model().objects.filter(is_active=True)}
    _seed_intakes(users, stdout)
    full, gaps = Agent.objects.filter(slug=FULL).first(), Agent.objects.filter(slug=GAPS).first()
    try:
        if full is not None:
            _seed_documents(full, full.owner, full=True)
            _seed_assessment(full, AssessmentKind.FRIA, FRIA, users, ["board", "board2"])
            _seed_assessment(full, AssessmentKind.DPIA, DPIA, users, ["board", "board2"])
        if gaps is not None:
            _seed_documents(gaps, gaps.owner, full=False)
            _seed_assessment(gaps, AssessmentKind.FRIA, FRIA, users, ["board"])
    except (ValidationError, ApprovalError) as exc:  # the demo registry changed; say so and go on
        if stdout is not None:
            stdout.write(f"  compliance demo: skipped part of the documents and assessments: {exc}")
    if stdout is not None:
        stdout.write(
            f"Compliance demo: {Intake.objects.count()} intakes, {AgentDocument.objects.count()} documents, "
            f"{ImpactAssessment.objects.count()} impact assessments ({FULL}: full evidence; {GAPS}: gaps)."
        )
