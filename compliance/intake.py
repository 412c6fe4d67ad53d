"""Intake: proposing an agent, the board's scorecard, and turning a good intake into a proposed agent.

The scorecard is the playbook's "First-agent selection scorecard" (seed 004): five dimensions
scored 1-5; a total of 20 or more is a strong candidate, 15 or less is a skip, in between is
borderline. Bonus points (1-3 each for a disliked process, quantified value, an executive sponsor)
are recorded and shown for ranking but never lift an intake over the go threshold: the threshold
reads the five dimensions only, so a weak use case cannot be carried by enthusiasm."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.text import slugify

from registry import services as registry_services
from registry.models import Agent

from .choices import IntakeStatus
from .models import BONUS_MAX, GO_THRESHOLD, SCORE_MAX, SCORE_MIN, Intake

# At most this total is a skip; between it and the go threshold, borderline.
SKIP_AT_MOST = 15
# The playbook's volume bar: fewer interactions a day give no statistical signal in days.
VOLUME_BAR_PER_DAY = 100
SCORE_PERMISSION = "compliance.score_intake"


@dataclass(frozen=True)
class Dimension:
    """One scored dimension: the model fields it fills and the playbook's guidance for 5 and 1."""

    key: str
    label: str
    question: str
    five: str
    one: str

    @property
    def score_field(self) -> str:
        return f"score_{self.key}"

    @property
    def answer_field(self) -> str:
        return f"{self.key}_answer"


# The playbook's guidance text, word for word at the anchors.
DIMENSIONS = (
    Dimension(
        "scope",
        "Scope narrowness",
        "Which one task does the agent do, with which inputs and outputs?",
        "one specific task, well-defined inputs and outputs",
        "broad role with many possible interactions",
    ),
    Dimension(
        "volume",
        "Volume",
        "How many interactions a day at full scale (aim for 100 or more)?",
        "100+ daily interactions at full scale",
        "<1 daily interaction",
    ),
    Dimension(
        "failure",
        "Failure tolerability",
        "What is the worst case when the agent is wrong, and how is it undone?",
        "errors recoverable, low business risk",
        "errors irreversible, legal/financial exposure",
    ),
    Dimension(
        "data",
        "Data availability",
        "Where does the knowledge the task needs live, and is it documented and reachable?",
        "all required knowledge documented and accessible",
        "knowledge in people's heads, hard to extract",
    ),
    Dimension(
        "metric",
        "Metric clarity",
        "How will you know it works: the primary metric and its target?",
        "success measurable in a single number",
        "success is subjective or multi-dimensional",
    ),
)

BONUSES = (
    ("bonus_disliked", "Existing process is widely disliked by users (high adoption upside)"),
    ("bonus_value", "Quantifiable business value if successful ($X saved per task)"),
    ("bonus_sponsor", "Executive sponsor with operational authority"),
)


class IntakeRefused(Exception):
    """A state change the intake's state does not allow; ``message`` says why, for the page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def intake_verdict(total: int | None) -> str:
    """``go`` at or above the threshold (20), ``skip`` at 15 or less, ``borderline`` between,
    ``unscored`` before the board scores."""
    if total is None:
        return "unscored"
    if total >= GO_THRESHOLD:
        return "go"
    if total <= SKIP_AT_MOST:
        return "skip"
    return "borderline"


def intake_may_convert(intake: Intake) -> str | None:
    """Why this intake may not become a proposed agent, or None when it may."""
    if intake.status == IntakeStatus.CONVERTED:
        return "This intake already became an agent."
    if intake.status == IntakeStatus.WITHDRAWN:
        return "This intake was withdrawn."
    total = intake.core_total
    if total is None:
        return "The governance board has not scored this intake yet."
    if total < GO_THRESHOLD:
        return (
            f"The board scored it {total} of 25; an intake becomes an agent only at {GO_THRESHOLD} or more "
            "(the playbook's go threshold)."
        )
    return None


@transaction.atomic
def intake_submit(*, form, proposer) -> Intake:
    """Anyone signed in may propose a use case; it starts submitted, unscored."""
    intake = form.save(commit=False)
    intake.proposer = proposer
    intake.status = IntakeStatus.SUBMITTED
    intake.save()
    return intake


def _scores_clean(scores: dict) -> dict[str, int]:
    cleaned, errors = {}, {}
    for dimension in DIMENSIONS:
        value = scores.get(dimension.score_field)
        if not isinstance(value, int) or isinstance(value, bool) or not SCORE_MIN <= value <= SCORE_MAX:
            errors[dimension.score_field] = f"Score {dimension.label.lower()} from {SCORE_MIN} to {SCORE_MAX}."
        else:
            cleaned[dimension.score_field] = value
    for field, label in BONUSES:
        value = scores.get(field, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= BONUS_MAX:
            errors[field] = f"Bonus “{label}” is 0 (not claimed) to {BONUS_MAX}."
        else:
            cleaned[field] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def intake_score(*, intake_id: int, scorer, scores: dict, note: str = "") -> Intake:
    """The governance board scores an intake (each dimension 1-5, bonuses 0-3). A board member
    may score again until the intake becomes an agent; the proposer never scores their own."""
    if not scorer.has_perm(SCORE_PERMISSION):
        raise PermissionDenied("Only the governance board scores intakes.")
    cleaned = _scores_clean(scores)
    with transaction.atomic():
        # Locked: a conversion racing a re-score must see one or the other, not a mix.
        intake = Intake.objects.select_for_update().get(pk=intake_id)
        if intake.proposer_id == scorer.pk:
            raise IntakeRefused("You proposed this intake; another board member scores it.")
        if intake.status not in (IntakeStatus.SUBMITTED, IntakeStatus.SCORED):
            raise IntakeRefused(f"This intake is {intake.get_status_display().lower()}; it can no longer be scored.")
        for field, value in cleaned.items():
            setattr(intake, field, value)
        intake.score_note = note
        intake.scored_by = scorer
        intake.scored_at = timezone.now()
        intake.status = IntakeStatus.SCORED
        intake.save()
    return intake


def intake_withdraw(*, intake_id: int, user) -> Intake:
    """The proposer withdraws an intake that has not become an agent."""
    with transaction.atomic():
        intake = Intake.objects.select_for_update().get(pk=intake_id)
        if intake.proposer_id != user.pk:
            raise PermissionDenied("Only the proposer withdraws an intake.")
        if intake.status not in (IntakeStatus.SUBMITTED, IntakeStatus.SCORED):
            raise IntakeRefused(f"This intake is {intake.get_status_display().lower()}.")
        intake.status = IntakeStatus.WITHDRAWN
        intake.save(update_fields=["status", "updated_at"])
    return intake


def intake_agent_initial(intake: Intake) -> dict:
    """The registry's agent form, pre-filled from the intake (the proposer edits before saving)."""
    initial = {
        "name": intake.title,
        "slug": slugify(intake.title)[:64],
        "purpose": intake.problem,
        "unit_of_work": intake.unit_of_work,
        "kpi_name": intake.kpi_name,
        "owner": intake.proposer_id,
    }
    if intake.team_id:
        initial["owner_team"] = intake.team_id
    if intake.human_minutes_per_unit is not None:
        initial["human_minutes_per_unit"] = intake.human_minutes_per_unit
    return initial


def intake_may_user_convert(intake: Intake, user) -> bool:
    """The proposer or a board member, either holding the registry's right to register agents."""
    return user.has_perm("registry.add_agent") and (intake.proposer_id == user.pk or user.has_perm(SCORE_PERMISSION))


def intake_convert(*, intake_id: int, agent_form, user) -> Agent:
    """A scored intake at or above the go threshold becomes a proposed agent, through the
    registry's own "register agent" service (``agent_save_from_form``), exactly once."""
    with transaction.atomic():
        # Locked: two clicks on "create the agent" must not register two agents for one intake.
        intake = Intake.objects.select_for_update().get(pk=intake_id)
        if not intake_may_user_convert(intake, user):
            raise PermissionDenied("Only the proposer or the board, with the right to register agents, does this.")
        refusal = intake_may_convert(intake)
        if refusal:
            raise IntakeRefused(refusal)
        agent = registry_services.agent_save_from_form(form=agent_form, user=user)
        intake.agent = agent
        intake.status = IntakeStatus.CONVERTED
        intake.save(update_fields=["agent", "status", "updated_at"])
    return agent


def intake_funnel() -> dict:
    """Counts for the portfolio: proposed, awaiting a score, scored, at or above the threshold
    (including those that became agents), below it, became agents, withdrawn. One query."""
    total = F("score_scope") + F("score_volume") + F("score_failure") + F("score_data") + F("score_metric")
    scored = Q(status__in=[IntakeStatus.SCORED, IntakeStatus.CONVERTED])
    return Intake.objects.annotate(core=total).aggregate(
        proposed=Count("pk", filter=~Q(status=IntakeStatus.WITHDRAWN)),
        awaiting=Count("pk", filter=Q(status=IntakeStatus.SUBMITTED)),
        scored=Count("pk", filter=scored),
        go=Count("pk", filter=scored & Q(core__gte=GO_THRESHOLD)),
        below=Count("pk", filter=scored & Q(core__lt=GO_THRESHOLD)),
        converted=Count("pk", filter=Q(status=IntakeStatus.CONVERTED)),
        withdrawn=Count("pk", filter=Q(status=IntakeStatus.WITHDRAWN)),
    )
