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

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.db.models import Sum
from django.utils import timezone

from registry.models import Agent

from .models import DailyRollup

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


def _model(label: str, name: str):
    try:
        return apps.get_model(label, name)
    except LookupError:
        return None


def _active_agent_ids(*, since: datetime, statuses: tuple[str, ...]) -> set[int]:
    return set(
        DailyRollup.objects.filter(bucket_start__gte=since, runs__gt=0, agent__status__in=statuses)
        .values_list("agent_id", flat=True)
        .distinct()
    )


def maturity_assess(*, now: datetime | None = None) -> Maturity:
    """Answer every question from the data and derive the stage (see the module docstring)."""
    now = now or timezone.now()
    month_ago = now - timedelta(days=30)
    answers: list[Answer] = []

    registered = Agent.objects.count()
    answers.append(
        Answer(
            1,
            "agents_registered",
            "Is there organisational awareness of agents (any agent registered)?",
            registered > 0,
            f"{registered} agents registered.",
            "Register the agents you are trying out.",
        )
    )

    deployed = _active_agent_ids(since=month_ago, statuses=("pilot", "production"))
    answers.append(
        Answer(
            2,
            "deployed_with_runs",
            "Is a deployed agent (pilot or production) in use, reporting its runs?",
            bool(deployed),
            f"{len(deployed)} pilot or production agents reported runs in the last 30 days.",
            "Deploy a pilot and send its run summaries to Quorum (POST /api/v1/runs/).",
        )
    )

    production = _active_agent_ids(since=month_ago, statuses=("production",))
    answers.append(
        Answer(
            3,
            "production_in_use",
            "Is an agent running in production with real business impact?",
            bool(production),
            f"{len(production)} production agents reported runs in the last 30 days.",
            "Take one agent to production through a go-live request.",
        )
    )

    EvalRun = _model("evals", "EvalRun")
    if EvalRun is not None:
        evaluated = set(
            EvalRun.objects.filter(
                agent__status="production", status="completed", finished_at__gte=month_ago
            ).values_list("agent_id", flat=True)
        )
        answers.append(
            Answer(
                3,
                "continuous_evals",
                "Do continuous evals run on the production agents?",
                bool(evaluated),
                f"{len(evaluated)} production agents have a completed eval run in the last 30 days.",
                "Schedule evals of each production agent against its golden set.",
            )
        )
    else:
        answers.append(
            Answer(
                3,
                "continuous_evals",
                "Do continuous evals run on the production agents?",
                False,
                "The evals app is not installed.",
                "Install and use evals.",
            )
        )

    costed = dict(
        DailyRollup.objects.filter(bucket_start__gte=month_ago, agent_id__in=production)
        .values("agent_id")
        .annotate(c=Sum("cost_usd"))
        .values_list("agent_id", "c")
    )
    budgeted = set(Agent.objects.filter(pk__in=production, monthly_budget_usd__gt=0).values_list("pk", flat=True))
    monitored = {a for a in production if costed.get(a) and a in budgeted}
    answers.append(
        Answer(
            3,
            "cost_monitoring",
            "Is cost per interaction monitored?",
            bool(production) and monitored == production,
            f"{len(monitored)} of {len(production)} production agents report run cost and have a monthly budget.",
            "Send cost_usd with every run and set each production agent's monthly budget.",
        )
    )

    Incident = _model("incidents", "Incident")
    if Incident is not None:
        incidents = Incident.objects.filter(detected_at__gte=now - timedelta(days=365)).count()
        answers.append(
            Answer(
                3,
                "incident_process",
                "Is there a defined incident process in use?",
                incidents > 0,
                f"{incidents} incidents recorded in the last 365 days.",
                "Record incidents (and their postmortems) in Quorum when agents misbehave.",
            )
        )
    else:
        answers.append(
            Answer(
                3,
                "incident_process",
                "Is there a defined incident process in use?",
                False,
                "The incidents app is not installed.",
                "Install and use incidents.",
            )
        )

    answers.append(
        Answer(
            4,
            "three_production",
            "Are three or more production agents on a shared platform?",
            len(production) >= 3,
            f"{len(production)} production agents report to Quorum.",
            "Put more use cases into production on the same platform.",
        )
    )
    ApprovalRequest = _model("approvals", "ApprovalRequest")
    if ApprovalRequest is not None:
        decided = ApprovalRequest.objects.filter(
            decided_at__gte=now - timedelta(days=180), status__in=["approved", "denied", "applied"]
        ).count()
        answers.append(
            Answer(
                4,
                "approval_workflow",
                "Is there a governance approval workflow for new agents and changes?",
                decided > 0,
                f"{decided} change requests decided in the last 180 days.",
                "Route go-lives and changes through approval requests.",
            )
        )
    else:
        answers.append(
            Answer(
                4,
                "approval_workflow",
                "Is there a governance approval workflow?",
                False,
                "The approvals app is not installed.",
                "Install and use approvals.",
            )
        )

    answers.append(
        Answer(
            5,
            "fifty_production",
            "Are fifty or more production agents in use?",
            len(production) >= 50,
            f"{len(production)} production agents report runs.",
            "Scale the platform to many more use cases.",
        )
    )
    prod_agents = Agent.objects.filter(status="production")
    priced = prod_agents.filter(human_cost_per_minute_usd__gt=0, human_minutes_per_unit__gt=0).count()
    total_prod = prod_agents.count()
    answers.append(
        Answer(
            5,
            "money_outcomes",
            "Is agent impact measured in money (cost and savings)?",
            total_prod > 0 and priced == total_prod,
            f"{priced} of {total_prod} production agents have a human baseline, so their ROI is computed.",
            "Set the human cost per minute and minutes per unit of every production agent.",
        )
    )

    stage = 1
    for s in (2, 3, 4, 5):
        if all(a.yes for a in answers if a.stage == s):
            stage = s
        else:
            break
    deciding = [a for a in answers if a.stage == stage and a.yes and stage > 1]
    deciding += [a for a in answers if a.stage == stage + 1 and not a.yes]
    return Maturity(stage=stage, answers=answers, deciding=deciding)
