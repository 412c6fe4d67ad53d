"""What each built-in role may do with incidents (added to the registry's role groups by
the data migration ``0002_role_permissions``). Executives and auditors only read."""

from registry import roles

_READ = [
    "incidents.view_incident",
    "incidents.view_timelineentry",
    "incidents.view_incidentrun",
    "incidents.view_postmortem",
    "incidents.view_actionitem",
]
_RESPOND = [
    "incidents.add_incident",
    "incidents.change_incident",
    "incidents.add_postmortem",
    "incidents.change_postmortem",
    "incidents.add_actionitem",
    "incidents.change_actionitem",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    roles.GOVERNANCE_BOARD: _READ + _RESPOND,
    roles.OPERATOR: _READ + _RESPOND,
    # Owners report incidents on any agent; they respond on the agents they own (object rights).
    roles.AGENT_OWNER: _READ + ["incidents.add_incident"],
    roles.APPROVER: list(_READ),
    roles.EXECUTIVE: list(_READ),
    roles.AUDITOR: list(_READ),
}
