"""What the action gate does with an agent's budget (issue 18, item 5). The counters, the atomic
charge and the once-per-month action live in ``registry/budgets.py``; this module turns them into
the gate's answer.

Rules, after the policy has decided and only for an answer that lets the action go ahead:

1. Ceilings: a session's step ceiling (the 21st step of a 20-step session is denied), a session's
   cost ceiling, a day's cost and step ceilings. Reached means spend >= ceiling: a request made
   while under it goes ahead even if its own cost crosses it. Checked twice, like the cap: on the
   request's context (spend and steps *before* this request; cheap, nothing written) and then by
   the atomic charge, which reads the committed counters under the agent's lock, so concurrent
   requests of one session or day cannot all pass on the same stale read.
2. The hard monthly cap, checked twice: against the context (cheap, before anything is written)
   and then by the atomic charge itself (``registry.budgets.spend_charge``), which refuses once the
   month's committed spend has reached the cap, so concurrent requests overspend by at most one
   request's cost. At the cap the agent's configured action applies:
   deny side effects (tools of tier 2 and up), require one approval for every action, or the kill
   switch (pulled once, with an incident; side-effecting actions are then denied by it).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from registry.budgets import (
    REFUSED_DAY_COST,
    REFUSED_DAY_STEPS,
    REFUSED_SESSION_COST,
    REFUSED_SESSION_STEPS,
)
from registry.choices import BudgetAction
from registry.models import Agent, Tool

from .choices import ActionStatus, DecisionSource
from .language import CONTEXT_PREFIX

MAX_COST_USD = Decimal("1000000")
HARD_CAP_REASON = "hard monthly budget cap reached"


def cost_parse(raw) -> tuple[Decimal, list[dict]]:
    """The action's ``cost_usd`` (optional, >= 0, under a million); errors as API error dicts."""
    if raw is None or raw == "":
        return Decimal("0"), []
    message = f"cost_usd: a number from 0 to {MAX_COST_USD} (the action's cost in USD)."
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return Decimal("0"), [{"code": "invalid", "field": "cost_usd", "message": message}]
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return Decimal("0"), [{"code": "invalid", "field": "cost_usd", "message": message}]
    if not value.is_finite() or value < 0 or value >= MAX_COST_USD:
        return Decimal("0"), [{"code": "invalid", "field": "cost_usd", "message": message}]
    return value, []


def _ctx(values: dict, name: str):
    return values.get(CONTEXT_PREFIX + name)


def ceiling_reason(*, agent: Agent, refused: str) -> str:
    """The denial's reason for a ceiling the context or the charge found reached (``refused`` is a
    ``registry.budgets.REFUSED_*`` code of a ceiling)."""
    return {
        REFUSED_SESSION_STEPS: f"session step ceiling: {agent.budget_session_steps} steps per session already taken",
        REFUSED_SESSION_COST: f"session cost ceiling: {agent.budget_session_cost_usd} USD per session already spent",
        REFUSED_DAY_COST: f"daily cost ceiling: {agent.budget_day_cost_usd} USD already spent today",
        REFUSED_DAY_STEPS: f"daily step ceiling: {agent.budget_day_steps} steps already taken today",
    }[refused]


def ceiling_refusal(*, agent: Agent, values: dict) -> str | None:
    """Which per-session or per-day ceiling this request hits (read from the context), or None."""
    step = _ctx(values, "session_step")
    session_cost = _ctx(values, "session_cost_usd")
    if agent.budget_session_steps and step is not None and step > agent.budget_session_steps:
        refused = REFUSED_SESSION_STEPS
    elif agent.budget_session_cost_usd and session_cost is not None and session_cost >= agent.budget_session_cost_usd:
        refused = REFUSED_SESSION_COST
    elif agent.budget_day_cost_usd and _ctx(values, "spend_today_usd") >= agent.budget_day_cost_usd:
        refused = REFUSED_DAY_COST
    elif agent.budget_day_steps and _ctx(values, "steps_today") >= agent.budget_day_steps:
        refused = REFUSED_DAY_STEPS
    else:
        return None
    return ceiling_reason(agent=agent, refused=refused)


def hard_cap_hit(*, agent: Agent, values: dict) -> bool:
    """The month's spend (from the context) has reached the hard cap."""
    return bool(agent.budget_hard_cap_usd) and _ctx(values, "spend_month_usd") >= agent.budget_hard_cap_usd


def at_hard_cap(*, agent: Agent, tool: Tool, outcome):
    """The gate's answer once the hard cap is reached, per the agent's configured action."""
    from .services import DEFAULT_APPROVER_ROLES, KILL_SWITCH_REASON, Outcome

    action = agent.budget_hard_cap_action
    if action == BudgetAction.REQUIRE_APPROVAL:
        if outcome.status != ActionStatus.ALLOWED:
            return outcome
        return Outcome(
            ActionStatus.PENDING,
            DecisionSource.BUDGET,
            reason=f"{HARD_CAP_REASON}: every action needs 1 approval",
            required_approvals=1,
            roles=list(DEFAULT_APPROVER_ROLES),
        )
    if not tool.has_side_effects:
        return outcome
    if action == BudgetAction.KILL_SWITCH:
        return Outcome(
            ActionStatus.DENIED, DecisionSource.KILL_SWITCH, reason=f"{KILL_SWITCH_REASON} ({HARD_CAP_REASON})"
        )
    return Outcome(ActionStatus.DENIED, DecisionSource.BUDGET, reason=f"{HARD_CAP_REASON}: side effects denied")


def budget_outcome(*, agent: Agent, tool: Tool, values: dict, outcome):
    """The answer after the budget's ceilings and the hard cap as the context shows them
    (rules 1 and 2 of the module docstring, before the charge)."""
    if outcome.status == ActionStatus.DENIED:
        return outcome
    refusal = ceiling_refusal(agent=agent, values=values)
    if refusal:
        from .services import Outcome

        return Outcome(ActionStatus.DENIED, DecisionSource.BUDGET, reason=refusal)
    if hard_cap_hit(agent=agent, values=values):
        return at_hard_cap(agent=agent, tool=tool, outcome=outcome)
    return outcome
