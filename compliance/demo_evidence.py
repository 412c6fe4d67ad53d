"""Demo data for the framework mapping, the serious-incident clock and drills (idempotent)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from approvals.exceptions import ApprovalError
from approvals.models import ApprovalRequest
from approvals.services import change_request_create, checklist_item_tick, decision_record
from evals.models import GoldenSetVersion
from evals.services.ci_results import CiResultsRefused, evalrun_record_ci
from incidents.models import Incident
from registry.assurance import Assurance
from registry.demo import demo_version_after
from registry.models import Agent, AgentVersion, Review, Tool
from registry.reviews import review_complete, review_open
from trail.explorer import chain_verify_record
from trail.models import ChainVerification

from .choices import AssessmentKind, AssessmentStatus
from .drills import drill_finish, drill_start
from .models import DrillMode, ImpactAssessment, KillSwitchDrill, ReportStage, SeriousIncident, SeriousKind
from .serious import serious_classify, serious_report_submit

FULL_EVIDENCE_AGENT = "support-triage"  # drilled, monitored, reviewed: the demo's well-evidenced agent


def _user(username: str):
    return get_user_model().objects.filter(username=username).first()


def _seed_drill(operator) -> None:
    agent = Agent.objects.filter(slug=FULL_EVIDENCE_AGENT).first()
    if agent is None or KillSwitchDrill.objects.filter(agent=agent).exists():
        return
    drill = drill_start(agent=agent, actor=operator, mode=DrillMode.DRY_RUN, note="Quarterly kill-switch drill (demo).")
    # The demo agent does not poll: record the poll it would have made 850 ms after the pull.
    KillSwitchDrill.objects.filter(pk=drill.pk).update(
        controls_off_seen_at=drill.pulled_at + timedelta(milliseconds=850)
    )
    drill_finish(drill_id=drill.pk, actor=operator)


def _seed_serious(operator) -> None:
    incident = Incident.objects.filter(agent__slug="churn-outreach", status__in=["open", "mitigated"]).first()
    if incident is None or SeriousIncident.objects.filter(incident=incident).exists():
        return
    serious = serious_classify(
        incident_id=incident.pk,
        kind=SeriousKind.OTHER,
        aware_at=timezone.now() - timedelta(days=3),
        rationale="Out-of-policy offers to 23 customers: a possible infringement of consumer-protection rights (demo).",
        actor=operator,
    )
    serious_report_submit(serious_id=serious.pk, stage=ReportStage.INITIAL, actor=operator)


def _seed_review(board) -> None:
    """A completed quarterly review of the well-evidenced agent (Art. 9, 17)."""
    agent = Agent.objects.filter(slug=FULL_EVIDENCE_AGENT).first()
    if agent is None or Review.objects.filter(agent=agent, status="completed").exists():
        return
    today = timezone.localdate()
    review, _ = review_open(
        agent=agent,
        kind="scheduled",
        due_on=today,
        reason="Quarterly oversight review (demo).",
        period_start=today - timedelta(days=90),
        period_end=today,
    )
    review_complete(
        review_id=review.pk,
        reviewer=board,
        findings="Runs, incidents, drills and evals reviewed; thresholds met (demo).",
        outcome="continue",
    )


def _seed_step_up_decision(owner, board) -> None:
    """A decision with its reason taken in a multi-factor session (Art. 14): the board denies a
    scope expansion, so the demo agent's configuration does not change."""
    agent = Agent.objects.filter(slug=FULL_EVIDENCE_AGENT).first()
    justification = "Let triage also issue store credit (demo)."
    if agent is None or ApprovalRequest.objects.filter(agent=agent, justification=justification).exists():
        return
    deployed = agent.deployed_version
    have = set(deployed.grants.values_list("tool__name", flat=True)) if deployed else set()
    tool = Tool.objects.exclude(name__in=have).order_by("action_tier", "name").first()
    if tool is None:
        return
    try:
        request = change_request_create(
            agent=agent,
            kind="tool_grant",
            payload={"tool": tool.name, "constraints": {}},
            requester=owner,
            justification=justification,
        )
        decision_record(
            request_id=request.pk,
            approver=board,
            verdict="deny",
            reason="Store credit is money: needs its own action policy first.",
            payload_hash=request.payload_hash,
            assurance=Assurance(method="password", authenticated_at=timezone.now(), mfa=True, amr=("pwd", "otp")),
        )
    except (ValidationError, ApprovalError):  # the demo registry changed; leave this gap
        return


RELEASE_LABEL = "1.2"
# Who ticks what on the tier-1 checklist (never the requester; executive sign-off by an executive).
RELEASE_CHECKLIST = {
    "privacy": ("board2", "dpia"),
    "security": ("approver", "Pen test of the 1.1 tool surface re-run on 1.2: no new finding (demo)."),
    "cost_budget": ("approver", "Same model and tools as 1.1: cost per ticket unchanged, inside the budget (demo)."),
    "legal": ("board2", "fria"),
    "compliance": ("board2", "documents"),
    "red_team": ("approver", "Prompt-injection and refund-abuse red team on 1.2: 0 of 40 attacks got through (demo)."),
    "executive_signoff": ("executive", "Signed off for the customer-support roadmap (demo)."),
}


def _release_candidate(agent: Agent, owner) -> AgentVersion | None:
    """Version 1.2 of the well-evidenced agent as a draft (the deployed one's tools and pins),
    with passing CI eval results on its golden set posted by its owner."""
    stable = agent.deployed_version
    set_version = (
        GoldenSetVersion.objects.filter(golden_set__agent=agent, frozen_at__isnull=False).order_by("-pk").first()
    )
    if stable is None or set_version is None:
        return None
    version = demo_version_after(
        stable,
        label=RELEASE_LABEL,
        changelog="Escalation summary in the customer's language; refund wording reviewed by legal.",
        created_by=owner,
    )
    results = [{"case": key, "passed": True, "score": 1} for key in set_version.cases.values_list("key", flat=True)]
    evalrun_record_ci(version=version, set_version=set_version, results=results, idempotency_key="demo-1.2", user=owner)
    return version


def _checklist_evidence(agent: Agent, what: str) -> str:
    base = settings.QUORUM_BASE_URL.rstrip("/")
    if what in ("dpia", "fria"):
        kind = AssessmentKind.DPIA if what == "dpia" else AssessmentKind.FRIA
        found = ImpactAssessment.objects.filter(agent=agent, kind=kind, status=AssessmentStatus.APPROVED).first()
        return base + found.get_absolute_url() if found else f"No approved {what.upper()} (demo)."
    if what == "documents":
        # The documents page opens for everyone who sees the agent (the framework mapping links
        # records, such as the audit explorer, that not every role may open).
        return base + reverse("compliance:agent_documents", kwargs={"slug": agent.slug})
    return what


def _seed_release(owner, approver, board) -> None:
    """A new version of the well-evidenced agent approved through the real two-person path
    (EU AI Act Art. 17, NIST MANAGE 4.3, ISO/IEC 42001 A.6.2.5): the owner requests it, the
    tier-1 checklist is ticked by others with evidence, CI eval results vouch for the version,
    the documentation and FRIA gates are met, and an approver plus a board member from outside
    the owning team approve with multi-factor sign-in; the last approval applies it. The
    version is approved, not deployed: going live is the next request."""
    agent = Agent.objects.filter(slug=FULL_EVIDENCE_AGENT).first()
    if agent is None or agent.versions.filter(label=RELEASE_LABEL).exists():
        return
    users = {name: _user(name) for name in {who for who, _ in RELEASE_CHECKLIST.values()}}
    try:
        version = _release_candidate(agent, owner)
        if version is None:
            return
        request = change_request_create(
            agent=agent,
            kind="new_version",
            payload={"version_id": version.pk, "bundle_digest": version.bundle_digest},
            requester=owner,
            justification="Customers writing in Spanish and German get their escalation summary in their language.",
        )
        open_keys = set(request.checklist.filter(done=False).values_list("key", flat=True))
        for key, (who, what) in RELEASE_CHECKLIST.items():
            if key in open_keys and users.get(who) is not None:
                checklist_item_tick(
                    request_id=request.pk, key=key, user=users[who], evidence=_checklist_evidence(agent, what)
                )
        mfa = Assurance(method="password", authenticated_at=timezone.now(), mfa=True, amr=("pwd", "otp"))
        for person, reason in (
            (approver, "Eval run on the golden set passes; the diff is the prompt only."),
            (board, "Documents, FRIA and checklist complete; board approval from outside Customer Support."),
        ):
            request.refresh_from_db()
            decision_record(
                request_id=request.pk,
                approver=person,
                verdict="approve",
                reason=reason,
                payload_hash=request.payload_hash,
                assurance=mfa,
            )
    except (ValidationError, ApprovalError, CiResultsRefused):  # the demo registry changed; leave this gap
        return


def seed_evidence_demo(stdout=None) -> None:
    operator, owner, board = _user("operator"), _user("owner"), _user("board")
    if operator is None or owner is None or board is None:
        return
    approver = _user("approver")
    if approver is not None:
        _seed_release(owner, approver, board)
    _seed_drill(operator)
    _seed_serious(operator)
    _seed_review(board)
    _seed_step_up_decision(owner, board)
    if not ChainVerification.objects.filter(checked_at__gte=timezone.now() - timedelta(days=1)).exists():
        chain_verify_record()
    if stdout is not None:
        stdout.write(
            f"Compliance evidence: {KillSwitchDrill.objects.count()} drills, "
            f"{SeriousIncident.objects.count()} serious incidents."
        )
