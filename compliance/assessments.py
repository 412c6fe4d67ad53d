"""Impact assessments: the FRIA (EU AI Act Art. 27) and the DPIA (GDPR Art. 35) per agent.

Rules (issue 21, item 3):

* An assessment is a structured form (:data:`QUESTIONS`), written once per version; a new
  version is a new row, never an edit.
* It becomes approved only by applying its ``impact_assessment`` change request, which needs two
  distinct approvers, neither the author (the two-person rule; a governed kind). Applying it
  supersedes the earlier approved version of the same kind.
* A tier-1 agent's go-live or new version is not applied without an approved FRIA whose
  ``valid_until`` has not passed (:func:`fria_gate`)."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from approvals.choices import RELEASE_KINDS
from approvals.exceptions import ApplyBlocked
from approvals.kinds import DiffRow, KindSpec
from approvals.services import change_request_create
from registry import roles
from registry.canonical import canonical_sha256
from registry.choices import RiskTier
from registry.models import Agent
from registry.permissions import user_can_edit_agent

from .choices import AssessmentKind, AssessmentStatus
from .documents import release_requests_retry
from .models import ImpactAssessment

IMPACT_ASSESSMENT = "impact_assessment"
MAX_ANSWER_CHARS = 4000

# The questions, in the order the law lists them. FRIA: EU AI Act Art. 27(1)(a)-(f). DPIA: GDPR
# Art. 35(7)(a)-(d), with the facts a privacy office asks before it can answer them.
QUESTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    AssessmentKind.FRIA: (
        ("process", "(a) The deployer's processes in which the agent is used, in line with its intended purpose"),
        ("period", "(b) The period of time within which, and the frequency with which, the agent is used"),
        ("affected", "(c) The categories of natural persons and groups likely to be affected"),
        ("risks", "(d) The specific risks of harm likely to have an impact on those persons or groups"),
        ("oversight", "(e) The human oversight measures, according to the instructions for use"),
        ("mitigation", "(f) The measures taken if those risks materialise: internal governance, complaints"),
    ),
    AssessmentKind.DPIA: (
        ("processing", "(a) A systematic description of the processing and its purposes"),
        ("data_categories", "The categories of personal data and of data subjects"),
        ("lawful_basis", "The lawful basis and the retention period"),
        ("necessity", "(b) The necessity and proportionality of the processing in relation to its purposes"),
        ("risks", "(c) The risks to the rights and freedoms of data subjects"),
        ("measures", "(d) The measures to address the risks: safeguards, security, mechanisms to protect data"),
    ),
}


class AssessmentRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def assessment_answers_clean(kind: str, answers: dict) -> dict[str, str]:
    """Every question answered (non-blank text, at most 4000 characters), nothing else."""
    if kind not in QUESTIONS:
        raise ValidationError({"kind": f"Unknown assessment kind {kind!r}; use fria or dpia."})
    if not isinstance(answers, dict):
        raise ValidationError({"answers": "The answers must be an object."})
    errors, cleaned = {}, {}
    for key, label in QUESTIONS[kind]:
        value = answers.get(key)
        if not isinstance(value, str) or not value.strip():
            errors[key] = f"Answer “{label}”."
        elif len(value) > MAX_ANSWER_CHARS:
            errors[key] = f"At most {MAX_ANSWER_CHARS} characters."
        else:
            cleaned[key] = value.strip()
    unknown = sorted(set(answers) - {key for key, _ in QUESTIONS[kind]})
    if unknown:
        errors["answers"] = "Unknown question(s): " + ", ".join(unknown) + "."
    if errors:
        raise ValidationError(errors)
    return cleaned


def assessment_submit(
    *, agent: Agent, kind: str, answers: dict, valid_until: date, author, justification: str = ""
) -> ImpactAssessment:
    """Write the next version of the agent's FRIA or DPIA and open its approval request. Whoever
    may edit the agent writes; ``valid_until`` is in the future. Nothing is stored when the
    request cannot be opened (both in one transaction)."""
    if not user_can_edit_agent(author, agent):
        raise PermissionDenied("You may not write impact assessments for this agent.")
    cleaned = assessment_answers_clean(kind, answers)
    if valid_until <= timezone.localdate():
        raise ValidationError({"valid_until": "The reassessment date must be in the future."})
    with transaction.atomic():
        # The agent's row lock numbers versions one at a time (the unique constraint backs it).
        Agent.objects.select_for_update(no_key=True).only("pk").get(pk=agent.pk)
        latest = ImpactAssessment.objects.filter(agent=agent, kind=kind).aggregate(v=Max("version"))["v"] or 0
        assessment = ImpactAssessment.objects.create(
            agent=agent,
            kind=kind,
            version=latest + 1,
            answers=cleaned,
            answers_sha256=canonical_sha256(cleaned),
            valid_until=valid_until,
            author=author,
        )
        req = change_request_create(
            agent=agent,
            kind=IMPACT_ASSESSMENT,
            payload={"assessment_id": assessment.pk},
            requester=author,
            justification=justification or f"{kind.upper()} version {assessment.version} for {agent.name}.",
        )
        assessment.request = req
        assessment.save(update_fields=["request"])
    return assessment


# --- the governed kind ---------------------------------------------------------------------------


def _normalize(agent, payload, version):
    if not isinstance(payload, dict) or set(payload) - {
        "assessment_id",
        "kind",
        "version",
        "answers_sha256",
        "valid_until",
    }:
        raise ValidationError({"payload": "An impact assessment request names its assessment_id only."})
    try:
        assessment = ImpactAssessment.objects.get(pk=int(payload.get("assessment_id")), agent=agent)
    except (TypeError, ValueError, ImpactAssessment.DoesNotExist):
        raise ValidationError({"assessment_id": "No such impact assessment for this agent."}) from None
    if assessment.status != AssessmentStatus.PENDING or assessment.request_id is not None:
        raise ValidationError({"assessment_id": "This assessment version was already put to approval."})
    return (
        {
            "assessment_id": assessment.pk,
            "kind": assessment.kind,
            "version": assessment.version,
            "answers_sha256": assessment.answers_sha256,
            "valid_until": assessment.valid_until.isoformat(),
        },
        None,
    )


def _apply(request, actor) -> None:
    """Approve the exact answers the approvers saw; the earlier approved version is superseded."""
    p = request.payload
    # Locked: the approval and a newer version's approval must not both end up current.
    assessment = ImpactAssessment.objects.select_for_update().get(pk=p["assessment_id"])
    if assessment.status != AssessmentStatus.PENDING:
        raise ApplyBlocked(f"This assessment is {assessment.get_status_display().lower()}.")
    if assessment.answers_sha256 != p["answers_sha256"] or canonical_sha256(assessment.answers) != p["answers_sha256"]:
        raise ApplyBlocked("The assessment's answers differ from the ones approved.")
    # Row by row, not update(): each status change reaches the audit log (and so the chain).
    for earlier in ImpactAssessment.objects.select_for_update().filter(
        agent_id=assessment.agent_id, kind=assessment.kind, status=AssessmentStatus.APPROVED
    ):
        earlier.status = AssessmentStatus.SUPERSEDED
        earlier.save(update_fields=["status"])
    assessment.status = AssessmentStatus.APPROVED
    assessment.approved_at = timezone.now()
    assessment.save(update_fields=["status", "approved_at"])
    agent_id = assessment.agent_id
    # A release this assessment was holding back goes ahead once the approval commits.
    transaction.on_commit(lambda: release_requests_retry(agent_id=agent_id))


def _on_abandon(request) -> None:
    """Denied, withdrawn or expired: that version is not approved, ever (write a new one)."""
    for assessment in ImpactAssessment.objects.select_for_update().filter(
        request=request, status=AssessmentStatus.PENDING
    ):
        assessment.status = AssessmentStatus.REJECTED
        assessment.save(update_fields=["status"])  # audited, like every status change


def _diff(request) -> list[DiffRow]:
    p = request.payload
    current = assessment_current(request.agent, p["kind"])
    now = f"v{current.version}, valid until {current.valid_until:%Y-%m-%d}" if current else "none approved"
    return [
        DiffRow(f"Approved {p['kind'].upper()}", now, f"v{p['version']}, valid until {p['valid_until']}"),
        DiffRow("Answers (SHA-256)", current.answers_sha256 if current else "none", p["answers_sha256"]),
    ]


IMPACT_ASSESSMENT_KIND = KindSpec(
    IMPACT_ASSESSMENT,
    "Impact assessment (FRIA or DPIA)",
    _normalize,
    _apply,
    _diff,
    # An approved FRIA opens the tier-1 release gate: two people, never the author.
    min_approvals=2,
    lowers_control=True,
    eligible_roles=(roles.GOVERNANCE_BOARD, roles.APPROVER),
    on_abandon=_on_abandon,
    # Raised from the assessment form (it names a written version), not from the agent card.
    by_hand=False,
)


# --- reads and the gate ---------------------------------------------------------------------------


def assessment_current(agent: Agent, kind: str, *, today: date | None = None) -> ImpactAssessment | None:
    """The approved version of ``kind`` still within its validity, or None."""
    today = today or timezone.localdate()
    return (
        ImpactAssessment.objects.filter(
            agent=agent, kind=kind, status=AssessmentStatus.APPROVED, valid_until__gte=today
        )
        .order_by("-version")
        .first()
    )


def fria_gate(request) -> str | None:
    """Apply gate (``approvals.extensions.apply_gates``): a tier-1 agent's go-live or new version
    is not applied without an approved, current fundamental-rights impact assessment (Art. 27)."""
    if getattr(request, "kind", None) not in RELEASE_KINDS or getattr(request, "agent", None) is None:
        return None
    return fria_gate_reason(request.agent)


def fria_gate_reason(agent: Agent) -> str | None:
    """Why a release of ``agent`` would wait for its FRIA now, or None (not tier 1, or a current one)."""
    if agent.risk_tier != RiskTier.TIER_1 or assessment_current(agent, AssessmentKind.FRIA) is not None:
        return None
    expired = (
        ImpactAssessment.objects.filter(agent=agent, kind=AssessmentKind.FRIA, status=AssessmentStatus.APPROVED)
        .order_by("-version")
        .first()
    )
    if expired is not None:
        return (
            f"Tier-1 agent without a current FRIA: version {expired.version} was valid until "
            f"{expired.valid_until:%Y-%m-%d}; write and approve a new one (EU AI Act Art. 27)."
        )
    return "Tier-1 agent without an approved fundamental-rights impact assessment (EU AI Act Art. 27)."
