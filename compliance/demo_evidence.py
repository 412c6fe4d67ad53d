"""Demo data for the framework mapping, the serious-incident clock and drills (idempotent)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from approvals.exceptions import ApprovalError
from approvals.models import ApprovalRequest
from approvals.services import change_request_create, decision_record
from incidents.models import Incident
from registry.assurance import Assurance
from registry.models import Agent, Review, Tool
from registry.reviews import review_complete, review_open
from trail.explorer import chain_verify_record
from trail.models import ChainVerification

from .drills import drill_finish, drill_start
from .models import DrillMode, KillSwitchDrill, ReportStage, SeriousIncident, SeriousKind
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


def seed_evidence_demo(stdout=None) -> None:
    operator, owner, board = _user("operator"), _user("owner"), _user("board")
    if operator is None or owner is None or board is None:
        return
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
