"""The learning gate: an agent that owes a postmortem action item does not ship changes."""

from __future__ import annotations

from approvals.choices import RELEASE_KINDS
from registry.selectors import user_display_name

from .selectors import overdue_action_items


def learning_gate(request) -> str | None:
    """Called by the approvals engine before applying a change request (an apply gate in
    ``approvals.extensions``, registered from ``IncidentsConfig.ready()``). Rule: while the agent
    has an overdue postmortem action item, no go-live or new-version request may be applied until
    the item is done or re-planned."""
    if getattr(request, "kind", None) not in RELEASE_KINDS:
        return None
    agent = getattr(request, "agent", None)
    if agent is None:
        return None
    items = list(overdue_action_items(agent=agent)[:3])
    if not items:
        return None
    first = items[0]
    incident = first.postmortem.incident
    owner = user_display_name(first.owner, nobody="no owner")
    more = " (and more)" if len(items) > 1 else ""
    return (
        f"{agent.name} has an overdue postmortem action item: “{first.title}” from {incident.reference}, "
        f"due {first.due_on:%Y-%m-%d}, {owner}{more}. Complete or re-plan it before applying this request."
    )
