"""What monitors add to shared pages: the agent card's SLO and monitor section, the home panel."""

from __future__ import annotations

from registry.selectors import agents_visible_to

from . import selectors


def agent_card_section(request, agent):
    """The agent's SLOs (level, burn rates, budget left) and the monitors watching it."""
    slos = selectors.slos_of(agent)
    monitors = [m for m in selectors.monitors_of(agent) if m.scope == "agent" or m.level != "ok"]
    if not slos and not monitors:
        return None
    return {"template": "monitors/sections/agent_card.html", "agent": agent, "slos": slos, "monitors": monitors}


def home_panel(request):
    """SLOs burning and monitors at warning or alert, for the agents the user may see."""
    agent_ids = list(agents_visible_to(request.user).values_list("pk", flat=True))
    slos, monitors = selectors.firing(agent_ids=agent_ids)
    return {"template": "monitors/panels/home.html", "slos": slos, "monitors": monitors}
