"""Telemetry's parts of shared pages: the agent card (keys, violations) and the home page."""

from __future__ import annotations

from registry.selectors import agent_keys

from .forms import KeyIssueForm
from .selectors import (
    agent_violations,
    discoveries,
    discoveries_unreviewed_count,
    violations_recent,
    violations_recent_grouped,
)


def agent_keys_context(request, agent, *, form=None) -> dict:
    from .views import user_can_manage_agent_keys

    can_manage = user_can_manage_agent_keys(request.user, agent)
    return {
        "template": "telemetry/sections/agent_card.html",
        "keys": list(agent_keys(agent=agent)[:50]),
        "can_manage": can_manage,
        "form": form or KeyIssueForm(),
        "violations": agent_violations(agent=agent),
    }


def agent_card_section(request, agent) -> dict:
    """API keys (issue, rotate, revoke) and recent compliance violations of this agent."""
    return agent_keys_context(request, agent)


def home_panel(request) -> dict | None:
    """Compliance violations of the last 7 days on agents the user may see."""
    if not request.user.has_perm("registry.view_agent"):
        return None
    return {
        "template": "telemetry/panels/home.html",
        "groups": violations_recent_grouped(user=request.user),
        "count": violations_recent(user=request.user).count(),
    }


def discovery_panel(request) -> dict | None:
    """Unreviewed discoveries (unknown agents, tools, models seen in spans), for the board."""
    if not request.user.has_perm("telemetry.view_discovery"):
        return None
    entries = discoveries()
    return {"template": "telemetry/panels/discovery.html", "entries": list(entries[:5]), "count": entries.count()}


def discovery_badge(user) -> int:
    return discoveries_unreviewed_count() if user.has_perm("telemetry.view_discovery") else 0
