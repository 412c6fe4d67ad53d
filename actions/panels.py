"""The action gate's section on the agent card: recent action requests, policy blocks, webhook."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from registry.permissions import user_can_edit_agent

from .forms import WebhookForm
from .models import AgentGateSettings
from .selectors import action_counts_for_agent, budget_for_card, recent_for_agent
from .services import action_effective_status


def agent_card_section(request, agent):
    if not request.user.has_perm("actions.view_actionrequest"):
        return None
    recent = recent_for_agent(agent=agent)
    for action in recent:
        action.effective_status = action_effective_status(action)
    gate = AgentGateSettings.objects.filter(agent=agent).first()
    can_edit = user_can_edit_agent(request.user, agent)
    return {
        "template": "actions/agent_section.html",
        "agent": agent,
        "recent": recent,
        "counts": action_counts_for_agent(agent=agent, since=timezone.now() - timedelta(days=30)),
        "gate": gate,
        "budget": budget_for_card(agent),
        "budget_action_label": agent.get_budget_hard_cap_action_display().lower(),
        "can_edit": can_edit,
        "webhook_form": WebhookForm(initial={"webhook_url": gate.webhook_url if gate else ""}) if can_edit else None,
    }
