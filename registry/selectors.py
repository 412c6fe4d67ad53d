"""Registry reads: what a user may see, and the agent's history in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from .models import Agent, AgentAPIKey, AgentVersion, ToolGrant
from .rights_audit import agent_rights_entries


def user_display_name(user, nobody: str = "system") -> str:
    """How Quorum names a person everywhere (timelines, tallies, e-mails): the full name, else
    the username; ``nobody`` when there is no user (the system acted, or the person is gone)."""
    if user is None:
        return nobody
    return user.get_full_name() or user.get_username()


def agent_keys(*, agent: Agent) -> QuerySet[AgentAPIKey]:
    return AgentAPIKey.objects.filter(agent=agent).select_related("created_by", "revoked_by").order_by("-created")


def agents_visible_to(user) -> QuerySet[Agent]:
    """Every signed-in role reads the whole registry (auditors and executives included);
    users without view_agent see only agents they hold an object permission on."""
    qs = Agent.objects.select_related("owner_team", "owner")
    if user.has_perm("registry.view_agent"):
        return qs
    from guardian.shortcuts import get_objects_for_user

    return get_objects_for_user(user, "registry.view_agent", klass=qs, accept_global_perms=False)


@dataclass(frozen=True)
class HistoryLine:
    when: datetime
    who: str
    action: str
    subject: str
    changes: list[tuple[str, str, str]]

    @property
    def sentence(self) -> str:
        return f"{self.who} {self.action} {self.subject}"


_ACTION_WORDS = {
    LogEntry.Action.CREATE: "created",
    LogEntry.Action.UPDATE: "changed",
    LogEntry.Action.DELETE: "deleted",
}


def agent_history(agent: Agent, limit: int = 50) -> list[HistoryLine]:
    """The audit trail of an agent, its versions and its grants, newest first, in words:
    who changed what, from what to what, when."""
    version_ids = list(AgentVersion.objects.filter(agent=agent).values_list("pk", flat=True))
    grant_ids = list(ToolGrant.objects.filter(version__agent=agent).values_list("pk", flat=True))
    ct = ContentType.objects.get_for_models(Agent, AgentVersion, ToolGrant)
    entries = (
        LogEntry.objects.filter(
            Q(content_type=ct[Agent], object_id=agent.pk)
            | Q(content_type=ct[AgentVersion], object_id__in=version_ids)
            | Q(content_type=ct[ToolGrant], object_id__in=grant_ids)
            # deleted grants/versions no longer have rows; their entries still name the agent
            | Q(content_type__in=[ct[AgentVersion], ct[ToolGrant]], object_repr__startswith=f"{agent.slug} ")
            # who may approve or operate this agent: object permissions granted and revoked
            | agent_rights_entries(agent)
        )
        .select_related("actor", "content_type")
        .order_by("-timestamp")[:limit]
    )
    lines = []
    for entry in entries:
        who = user_display_name(entry.actor)
        model = entry.content_type.model_class()
        kind = model._meta.verbose_name if model else "object"
        changes = []
        if entry.action == LogEntry.Action.UPDATE:
            display = entry.changes_display_dict
            for field, value in entry.changes_dict.items():
                label = _field_label(model, field)
                if isinstance(value, dict):  # many-to-many: {"type": "m2m", "operation": ..., "objects": [...]}
                    verb = "added" if value.get("operation") == "add" else "removed"
                    changes.append((label, verb, ", ".join(map(str, value.get("objects", [])))))
                else:
                    shown = display.get(label, value)
                    old, new = shown if isinstance(shown, list | tuple) and len(shown) == 2 else value
                    changes.append((label, str(old), str(new)))
        lines.append(
            HistoryLine(
                when=entry.timestamp,
                who=who,
                action=_ACTION_WORDS.get(entry.action, "touched"),
                subject=f"{kind} “{entry.object_repr}”",
                changes=changes,
            )
        )
    return lines


def _field_label(model, field_name: str) -> str:
    try:
        return str(model._meta.get_field(field_name).verbose_name)
    except Exception:  # noqa: BLE001 - a field since removed from the model keeps its raw name
        return field_name


def tool_pins_deployed(*, agent: Agent) -> dict:
    """What the MCP gateway compares upstream tools with: the deployed version's pinned tool
    definitions (name, description, input schema, definition hash). No deployed version: none."""
    version = agent.deployed_version
    if version is None:
        return {"version": None, "bundle_digest": None, "pins": []}
    return {
        "version": version.label,
        "bundle_digest": version.bundle_digest,
        "pins": [
            {
                "name": pin.name,
                "description": pin.description,
                "input_schema": pin.input_schema,
                "definition_hash": pin.definition_hash,
            }
            for pin in version.tool_pins.order_by("name")
        ],
    }
