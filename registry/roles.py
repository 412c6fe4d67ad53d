"""The built-in roles (Django groups) and what each may do.

The data migration ``0002_seed_roles`` creates them from this table; object
permissions (django-guardian) then narrow a role to specific agents."""

GOVERNANCE_BOARD = "Governance board"
APPROVER = "Approver"
AGENT_OWNER = "Agent owner"
OPERATOR = "Operator"
EXECUTIVE = "Executive"
AUDITOR = "Auditor"

ALL_ROLES = (GOVERNANCE_BOARD, APPROVER, AGENT_OWNER, OPERATOR, EXECUTIVE, AUDITOR)

_READ_REGISTRY = [
    "registry.view_team",
    "registry.view_scope",
    "registry.view_agent",
    "registry.view_agentversion",
    "registry.view_tool",
    "registry.view_toolgrant",
    "registry.view_review",
    "registry.view_globalcontrols",
]

# Global (model-level) permissions per role. Per-agent rights come from guardian.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    GOVERNANCE_BOARD: _READ_REGISTRY
    + [
        "registry.add_agent",
        "registry.change_agent",
        "registry.approve_agent",
        "registry.add_agentversion",
        "registry.change_agentversion",
        "registry.add_tool",
        "registry.change_tool",
        "registry.add_toolgrant",
        "registry.change_toolgrant",
        "registry.delete_toolgrant",
        "registry.add_review",
        "registry.change_review",
        "registry.add_team",
        "registry.change_team",
        "registry.add_scope",
        "registry.change_scope",
        "auditlog.view_logentry",
    ],
    # Approvers decide only where they hold approve_agent, globally or per agent.
    APPROVER: list(_READ_REGISTRY),
    # Owners may register agents; editing is per agent (object permission on the ones they own).
    AGENT_OWNER: _READ_REGISTRY + ["registry.add_agent"],
    OPERATOR: _READ_REGISTRY + ["registry.operate_agent", "registry.change_globalcontrols"],
    EXECUTIVE: list(_READ_REGISTRY),
    # Auditors and the board also read the audit chain (view_auditentry, view_auditcheckpoint):
    # granted by registry migration 0011, not here, because 0002 seeds this table before those models exist.
    AUDITOR: _READ_REGISTRY + ["auditlog.view_logentry"],
}

# What the owner of an agent may do on that one agent.
OWNER_OBJECT_PERMISSIONS = ("view_agent", "change_agent")
