"""What rollouts add to shared pages: the agent card's rollout section and the home panel."""

from __future__ import annotations

from approvals.services import user_may_request
from registry.permissions import user_can_operate_agent
from registry.selectors import agents_visible_to

from . import selectors, services
from .forms import RollbackForm


def agent_card_section(request, agent):
    """The open (or latest) plan as a timeline with its gate results; the rollback button for operators."""
    plan = selectors.plan_open(agent=agent) or selectors.plans_of(agent=agent).first()
    can_cancel = plan is not None and plan.status == "halted" and services.may_cancel_plan(request.user, agent)
    return {
        "template": "rollouts/agent_section.html",
        "agent": agent,
        "plan": plan,
        "timeline": selectors.plan_timeline(plan) if plan else [],
        "can_operate": user_can_operate_agent(request.user, agent),
        "can_cancel": can_cancel,
        "can_request_plan": can_cancel and user_may_request(request.user, agent, "rollout_plan"),
        "rollback_form": RollbackForm(auto_id="rb_%s"),
    }


def home_panel(request):
    plans = list(selectors.plans_in_progress(agents=agents_visible_to(request.user))[:10])
    if not plans:
        return None
    return {"template": "rollouts/home_panel.html", "plans": plans}
