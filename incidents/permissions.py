"""Who may do what with incidents. Reading follows ``incidents.view_incident`` and the agent's
visibility (selectors); these answer the write questions."""

from __future__ import annotations

from registry.permissions import user_can_edit_agent, user_can_operate_agent

from .models import Incident


def user_can_report_incident(user) -> bool:
    return user.is_authenticated and user.is_active and user.has_perm("incidents.add_incident")


def user_can_respond(user, incident: Incident) -> bool:
    """Responders (operators and the board, by role), the agent's operators and owners (object
    rights), and the incident commander may change an incident and write its postmortem."""
    if not (user.is_authenticated and user.is_active):
        return False
    if user.has_perm("incidents.change_incident"):
        return True
    if incident.commander_id == user.pk:
        return True
    if incident.agent_id is None:
        return False
    return user_can_operate_agent(user, incident.agent) or user_can_edit_agent(user, incident.agent)


def user_can_pull_fleet_switch(user) -> bool:
    return user.is_authenticated and user.is_active and user.has_perm("registry.change_globalcontrols")


def user_can_request_reenable(user, agent) -> bool:
    """Operators and the agent's owners may ask; approvers decide (two-person rule)."""
    return user_can_operate_agent(user, agent) or user_can_edit_agent(user, agent)
