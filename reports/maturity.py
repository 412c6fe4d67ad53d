"""The organisation's agent maturity stage (1–5), computed from what Quorum holds.

The model (from the enterprise agent maturity self-assessment): Exploration → Pilot →
Production for one use case → Platform → Agent-native operations. Each stage has
questions; the stage is the highest one whose questions — and every earlier stage's — are
all answered yes. The answers come from data, with the evidence shown; the "no" answers of
the next stage are what it needs.

Question (stage) → how Quorum answers it:
* (1) agents are known: at least one agent registered;
* (2) a deployed agent (pilot or production) reported runs in the last 30 days;
* (3) an agent in production with real use (runs in the last 30 days);
* (3) continuous evals: a completed eval run of a production agent in the last 30 days;
* (3) cost-per-interaction monitoring: every production agent with runs reports their cost
  and has a monthly budget;
* (3) an incident process in use: an incident recorded in the last 365 days;
* (4) three or more production agents reporting runs to the shared platform (Quorum);
* (4) a governance approval workflow in use: a change request decided in the last 180 days;
* (5) fifty or more production agents reporting runs;
* (5) outcomes measured in money: every production agent has its human baseline
  (cost per minute and minutes per unit), so its ROI is computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Sum
from django.utils import timezone

from approvals.selectors import requests_decided_since
from evals.selectors import agents_evaluated_since
from incidents.selectors import incidents_detected_since
from registry.choices import AgentStatus
from registry.models import Agent
from telemetry.models import DailyRollup

STAGE_NAMES = {
    1: "Exploration",
    2: "Pilot",
    3: "Production for one use case",
    4: "Platform",
    5: "Agent-native operations",
}


@dataclass
class Answer:
    stage: int
    key: str
    question: str
    yes: bool
    evidence: str
    next_step: str = ""


@dataclass
class Maturity:
    stage: int
    answers: list[Answer]
    deciding: list[Answer] = field(default_factory=list)

    @property
    def name(self) -> str:
        return STAGE_NAMES[self.stage]

    @property
    def next_stage(self) -> int | None:
        return self.stage + 1 if self.stage < 5 else None

    @property
    def next_needs(self) -> list[Answer]:
        """The next stage's questions still answered no."""
        if self.next_stage is None:
            return []
        return [a for a in self.answers if a.stage == self.next_stage and not a.yes]


@dataclass(frozen=True)
class Facts:
    """What several questions read, looked up once per assessment."""

    now: datetime
    month_ago: datetime
    deployed: set[int]  # pilot or production agents with runs in the last 30 days
    production: set[int]  # production agents with runs in the last 30 days


def _active_agent_ids(*, since: datetime, statuses: tuple[str, ...]) -> set[int]:
    return set(
        DailyRollup.objects.filter(bucket_start__gte=since, runs__gt=0, agent__status__in=statuses)
        .values_list("agent_id", flat=True)
        .distinct()
    )


# --- one function per question, in the order of the stages --------------------------------


def _agents_registered(facts: Facts) -> Answer:
    registered = Agent.objects.count()
    return Answer(
        1,
        "agents_registered",
        "Is there organisational awareness of agents (any agent registered)?",
        registered > 0,
        f"{registered} agents registered.",
        "Register the agents you are trying out.",
    )


def _deployed_with_runs(facts: Facts) -> Answer:
    return Answer(
        2,
        "deployed_with_runs",
        "Is a deployed agent (pilot or production) in use, reporting its runs?",
        bool(facts.deployed),
        f"{len(facts.deployed)} pilot or production agents reported runs in the last 30 days.",
        "Deploy a pilot and send its run summaries to Quorum (POST /api/v1/runs/).",
    )


def _production_in_use(facts: Facts) -> Answer:
    return Answer(
        3,
        "production_in_use",
        "Is an agent running in production with real business impact?",
        bool(facts.production),
        f"{len(facts.production)} production agents reported runs in the last 30 days.",
        "Take one agent to production through a go-live request.",
    )


def _continuous_evals(facts: Facts) -> Answer:
    evaluated = agents_evaluated_since(since=facts.month_ago, agent_status=AgentStatus.PRODUCTION)
    return Answer(
        3,
        "continuous_evals",
        "Do continuous evals run on the production agents?",
        bool(evaluated),
        f"{len(evaluated)} production agents have a completed eval run in the last 30 days.",
        "Schedule evals of each production agent against its golden set.",
    )


def _cost_monitoring(facts: Facts) -> Answer:
    production = facts.production
    costed = dict(
        DailyRollup.objects.filter(bucket_start__gte=facts.month_ago, agent_id__in=production)
        .values("agent_id")
        .annotate(c=Sum("cost_usd"))
        .values_list("agent_id", "c")
    )
    budgeted = set(Agent.objects.filter(pk__in=production, monthly_budget_usd__gt=0).values_list("pk", flat=True))
    monitored = {a for a in production if costed.get(a) and a in budgeted}
    return Answer(
        3,
        "cost_monitoring",
        "Is cost per interaction monitored?",
        bool(production) and monitored == production,
        f"{len(monitored)} of {len(production)} production agents report run cost and have a monthly budget.",
        "Send cost_usd with every run and set each production agent's monthly budget.",
    )


def _incident_process(facts: Facts) -> Answer:
    incidents = incidents_detected_since(since=facts.now - timedelta(days=365))
    return Answer(
        3,
        "incident_process",
        "Is there a defined incident process in use?",
        incidents > 0,
        f"{incidents} incidents recorded in the last 365 days.",
        "Record incidents (and their postmortems) in Quorum when agents misbehave.",
    )


def _three_production(facts: Facts) -> Answer:
    return Answer(
        4,
        "three_production",
        "Are three or more production agents on a shared platform?",
        len(facts.production) >= 3,
        f"{len(facts.production)} production agents report to Quorum.",
        "Put more use cases into production on the same platform.",
    )


def _approval_workflow(facts: Facts) -> Answer:
    decided = requests_decided_since(since=facts.now - timedelta(days=180))
    return Answer(
        4,
        "approval_workflow",
        "Is there a governance approval workflow for new agents and changes?",
        decided > 0,
        f"{decided} change requests decided in the last 180 days.",
        "Route go-lives and changes through approval requests.",
    )


def _fifty_production(facts: Facts) -> Answer:
    return Answer(
        5,
        "fifty_production",
        "Are fifty or more production agents in use?",
        len(facts.production) >= 50,
        f"{len(facts.production)} production agents report runs.",
        "Scale the platform to many more use cases.",
    )


def _money_outcomes(facts: Facts) -> Answer:
    prod_agents = Agent.objects.filter(status=AgentStatus.PRODUCTION)
    priced = prod_agents.filter(human_cost_per_minute_usd__gt=0, human_minutes_per_unit__gt=0).count()
    total_prod = prod_agents.count()
    return Answer(
        5,
        "money_outcomes",
        "Is agent impact measured in money (cost and savings)?",
        total_prod > 0 and priced == total_prod,
        f"{priced} of {total_prod} production agents have a human baseline, so their ROI is computed.",
        "Set the human cost per minute and minutes per unit of every production agent.",
    )


QUESTIONS: list[Callable[[Facts], Answer]] = [
    _agents_registered,
    _deployed_with_runs,
    _production_in_use,
    _continuous_evals,
    _cost_monitoring,
    _incident_process,
    _three_production,
    _approval_workflow,
    _fifty_production,
    _money_outcomes,
]


def _stage_of(answers: list[Answer]) -> int:
    """The highest stage whose questions, and every earlier stage's, are all answered yes."""
    stage = 1
    for s in (2, 3, 4, 5):
        if not all(a.yes for a in answers if a.stage == s):
            break
        stage = s
    return stage


def maturity_assess(*, now: datetime | None = None) -> Maturity:
    """Answer every question from the data and derive the stage (see the module docstring)."""
    now = now or timezone.now()
    month_ago = now - timedelta(days=30)
    facts = Facts(
        now=now,
        month_ago=month_ago,
        deployed=_active_agent_ids(since=month_ago, statuses=(AgentStatus.PILOT, AgentStatus.PRODUCTION)),
        production=_active_agent_ids(since=month_ago, statuses=(AgentStatus.PRODUCTION,)),
    )
    answers = [question(facts) for question in QUESTIONS]
    stage = _stage_of(answers)
    deciding = [a for a in answers if a.stage == stage and a.yes and stage > 1]
    deciding += [a for a in answers if a.stage == stage + 1 and not a.yes]
    return Maturity(stage=stage, answers=answers, deciding=deciding)
