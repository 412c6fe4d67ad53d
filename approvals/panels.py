"""The approvals app's parts of shared pages: the home panel and the agent-card section."""

from __future__ import annotations

from .choices import RequestKind
from .kinds import kinds_all
from .selectors import agent_policy_lines, requests_awaiting, requests_open_for_agent, user_approves_any_agent
from .services import user_may_request


def awaiting_home_panel(request):
    """Home: "Awaiting my decision" (shown to everyone who may decide something)."""
    awaiting = requests_awaiting(request.user)
    if not awaiting and not user_approves_any_agent(request.user):
        return None
    return {"template": "approvals/panels/home.html", "awaiting": awaiting[:10], "awaiting_count": len(awaiting)}


def _offered_for_state(kind: str, agent) -> bool:
    """Only offer a change the agent's current state allows: re-enabling side effects while
    they are on would only end in the kind's refusal after the requester wrote a justification."""
    if kind == RequestKind.REENABLE_SIDE_EFFECTS:
        return not agent.side_effects_enabled
    return True


def agent_card_section(request, agent):
    """Agent card: its open requests, and buttons to start the kinds this user may request."""
    kinds = [
        spec
        for spec in kinds_all()
        if spec.offered_per_agent
        and _offered_for_state(spec.value, agent)
        and user_may_request(request.user, agent, spec.value)
    ]
    return {
        "template": "approvals/panels/agent_card.html",
        "open_requests": list(requests_open_for_agent(agent)),
        # Shown in the card's Governance list (registry's template renders any section's lines).
        "governance_lines": agent_policy_lines(agent),
        "kinds": kinds,
        "agent": agent,
    }
