"""The action gate's first read of every request, in one query with SQL written once: the named
tool, its policy in force, the fleet's kill switch, the tool's running shadow (if any) and the
agent's deployed version with its grant of the tool.

Why raw SQL: this runs on every request the gate decides, and building and compiling the
equivalent ORM query (a select_related, subqueries, a second query for the grant) cost several
milliseconds of Python per request, more than the query itself (README, Performance). The rows
become model instances through the fields' own database converters, so callers see the same
objects the ORM would give them.

Policy versions are immutable and never deleted (their model refuses both), so the query carries
only the policy's id and creation time, and each process keeps the versions it has read (parsed:
fields, rules and their source texts, the bulk of the row): a new version is a new id, read once.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from registry.choices import VersionState
from registry.db_prepared import prepared_row
from registry.models import AgentVersion, GlobalControls, Tool, ToolGrant

from .models import ActionPolicyVersion, PolicyShadow


@dataclass
class GateRead:
    """What the gate read for one request. ``policy.fleet_enabled`` is the fleet switch as read
    (None: no controls row yet, never switched off); ``shadow_rules`` None: no shadow runs."""

    tool: Tool
    policy: ActionPolicyVersion | None
    fleet_enabled: bool | None
    shadow_id: int | None
    shadow_rules: list | None
    deployed: AgentVersion | None
    deployed_grant: ToolGrant | None
    extra: dict  # the caller's extra columns by name


def _columns(model, alias: str) -> list[str]:
    return [f"{alias}.{connection.ops.quote_name(f.column)}" for f in model._meta.concrete_fields]


@functools.cache
def _sql_parts() -> tuple[str, str]:
    """The select list and the rest of the query (with three parameters: agent, state, name)."""
    tool, policy, shadow, controls, version, grant = (
        connection.ops.quote_name(model._meta.db_table)
        for model in (Tool, ActionPolicyVersion, PolicyShadow, GlobalControls, AgentVersion, ToolGrant)
    )
    select = [
        *_columns(Tool, "t"),
        "p.id",
        "p.created_at",
        "gc.side_effects_enabled",
        "s.id",
        "s.rules",
        *_columns(AgentVersion, "v"),
        *_columns(ToolGrant, "g"),
    ]
    # The deployed version (at most one per agent, a constraint) and its grant of this tool; the
    # shadow ordering is PolicyShadow's (newest first; at most one runs, a constraint).
    return ", ".join(select), (
        f" FROM {tool} t "  # noqa: S608 - names from model meta
        f"LEFT JOIN LATERAL (SELECT * FROM {policy} WHERE tool_id = t.id ORDER BY number DESC LIMIT 1) p ON TRUE "
        f"LEFT JOIN {controls} gc ON gc.id = 1 "
        f"LEFT JOIN LATERAL (SELECT id, rules FROM {shadow} WHERE tool_id = t.id AND ended_at IS NULL "
        "ORDER BY started_at DESC LIMIT 1) s ON TRUE "
        f"LEFT JOIN {version} v ON v.agent_id = %s AND v.state = %s "
        f"LEFT JOIN {grant} g ON g.version_id = v.id AND g.tool_id = t.id "
        "WHERE t.name = %s"
    )


# (id, created_at) -> the version as read; the creation time guards against an id that a test
# database's reset sequence hands out again. Bounded: past the bound it is cleared, never wrong.
_policy_versions: dict[tuple[int, datetime], ActionPolicyVersion] = {}
POLICY_VERSIONS_KEPT = 1000


def _policy_version(pk: int, created_at: datetime) -> ActionPolicyVersion:
    """The policy version ``pk``: a copy of the one this process keeps (read on first use; one
    query), so a request may set attributes on it (``tool``, ``fleet_enabled``) without touching
    another's."""
    kept = _policy_versions.get((pk, created_at))
    if kept is None:
        kept = ActionPolicyVersion.objects.get(pk=pk)
        if len(_policy_versions) >= POLICY_VERSIONS_KEPT:
            _policy_versions.clear()
        _policy_versions[(pk, created_at)] = kept
    return copy.copy(kept)


def _instance(model, values: list):
    """A model instance from its concrete fields' raw column values (None: the LEFT JOIN found no row)."""
    if values[0] is None:
        return None
    fields = model._meta.concrete_fields
    converted = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def gate_read(*, tool_name: str, agent_id: int, extra: list[tuple[str, str, list]] = ()) -> GateRead | None:
    """The gate's read for a request by agent ``agent_id`` naming ``tool_name``; None when the
    catalog has no such tool. ``extra``: more columns to read in the same query, ``(name, sql,
    bound parameters)`` (the gate's context: ``actions.context.context_columns``)."""
    select, rest = _sql_parts()
    extra_sql = "".join(f", {column_sql}" for _name, column_sql, _params in extra)
    params = [p for _name, _sql, column_params in extra for p in column_params]
    # Prepared (registry/db_prepared.py): planning this join cost several times running it.
    row = prepared_row(f"SELECT {select}{extra_sql}{rest}", [*params, agent_id, VersionState.DEPLOYED, tool_name])
    if row is None:
        return None
    row = list(row)
    extra_values = dict(zip((name for name, _sql, _params in extra), row[len(row) - len(extra) :], strict=True))
    row = row[: len(row) - len(extra)]
    tool_size = len(Tool._meta.concrete_fields)
    tool = _instance(Tool, row[:tool_size])
    policy_id, policy_created, fleet, shadow_id, shadow_rules = row[tool_size : tool_size + 5]
    row = row[tool_size + 5 :]
    version_size = len(AgentVersion._meta.concrete_fields)
    policy = _policy_version(policy_id, policy_created) if policy_id is not None else None
    version = _instance(AgentVersion, row[:version_size])
    grant = _instance(ToolGrant, row[version_size:])
    if policy is not None:
        policy.tool = tool
        policy.fleet_enabled = fleet  # as the ORM path annotated it: the gate reads it from here
    if grant is not None:
        grant.version = version
        grant.tool = tool
    if shadow_id is not None:
        shadow_rules = PolicyShadow._meta.get_field("rules").from_db_value(shadow_rules, None, connection)
    return GateRead(tool, policy, fleet, shadow_id, shadow_rules, version, grant, extra_values)
