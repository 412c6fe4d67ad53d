"""What incidents add to shared pages: the agent card section, the home panel, the nav badge."""

from __future__ import annotations

from registry.models import GlobalControls
from registry.permissions import user_can_operate_agent

from .choices import ACTIVE_STATUSES
from .forms import KillSwitchForm, ReenableForm
from .models import Incident
from .permissions import user_can_pull_fleet_switch, user_can_report_incident, user_can_request_reenable
from .selectors import active_incidents, overdue_action_items, overdue_postmortems


def agent_card_section(request, agent):
    """Kill switch (operators), re-enable request, the active incident and recent ones."""
    user = request.user
    if not user.has_perm("incidents.view_incident"):
        return None
    recent = list(Incident.objects.filter(agent=agent).select_related("commander").order_by("-detected_at")[:5])
    active = next((i for i in recent if i.status in ACTIVE_STATUSES), None)
    return {
        "template": "incidents/sections/agent_card.html",
        "agent": agent,
        "active": active,
        "recent": recent,
        "overdue_items": list(overdue_action_items(agent=agent)[:5]),
        "can_operate": user_can_operate_agent(user, agent),
        "can_report": user_can_report_incident(user),
        "can_reenable": user_can_request_reenable(user, agent),
        "kill_form": KillSwitchForm(auto_id="ks_%s"),
        "reenable_form": ReenableForm(auto_id="re_%s"),
    }


def home_panel(request):
    """Open incidents, overdue postmortems and overdue action items (mine marked)."""
    user = request.user
    if not user.has_perm("incidents.view_incident"):
        return None
    items = list(overdue_action_items()[:20])
    return {
        "template": "incidents/panels/home.html",
        "active": list(active_incidents().order_by("severity", "detected_at")[:20]),
        "overdue_postmortems": list(overdue_postmortems()[:20]),
        "overdue_items": items,
        "can_pull_fleet": user_can_pull_fleet_switch(user),
        "fleet_off": not GlobalControls.load().side_effects_enabled,
    }


def active_incident_count(user) -> int:
    if not user.has_perm("incidents.view_incident"):
        return 0
    return Incident.objects.filter(status__in=ACTIVE_STATUSES).count()
