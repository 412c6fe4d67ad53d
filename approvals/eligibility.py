"""Who may decide an approval request: the rule, once.

A person may decide a request when they are signed in and active, are not its requester, hold
one of the roles its policy snapshot names, and hold ``registry.approve_agent`` globally or on
its agent. Their approval also counts as the tier-1 "governance board member outside the owning
team" when they are on the board and not a member of the agent's owning team.

Every place that asks goes through :func:`decide_refusal` — the decision service, "Apply now"
and checklist ticks (through ``approvals.services.approver_refusal``), the queue and the nav
badge (``approvals.selectors.requests_awaiting``) and the e-mail recipients
(``approvals.selectors.eligible_approvers``). Those load the facts their own way (one request,
a whole queue, every candidate) and hand them here; none restates the rule."""

from __future__ import annotations

from collections.abc import Callable, Collection

from registry import roles as role_names
from registry.models import Agent


def decide_refusal(
    user,
    *,
    roles: Collection[str],
    may_approve_agent: Callable[[], bool],
    requester_id: int | None,
    eligible_roles: Collection[str],
    agent_name: str,
) -> str | None:
    """None if ``user`` may decide the request; otherwise the sentence saying why not.

    ``roles`` are the user's role (group) names; ``may_approve_agent`` answers whether they hold
    ``approve_agent`` globally or on the request's agent, asked only when the roles match (it
    may cost a query)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return "Sign in to decide."
    if requester_id is not None and requester_id == user.pk:
        return "You requested this change; someone else must decide it."
    if not set(roles).intersection(eligible_roles) or not may_approve_agent():
        return f"You are not an approver for {agent_name}."
    return None


def is_board_outside_team(user, agent: Agent, roles: Collection[str]) -> bool:
    """Does this person's approval satisfy tier 1's "a governance-board member from outside the
    owning team"? (The owning team cannot wave its own agent through.)"""
    if agent is None:  # a fleet-wide request: no owning team to be outside of
        return role_names.GOVERNANCE_BOARD in roles
    return role_names.GOVERNANCE_BOARD in roles and not agent.owner_team.members.filter(pk=user.pk).exists()
