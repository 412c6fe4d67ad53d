"""The discovery queue: agents, tools and models seen in spans that the registry does not know
("shadow AI"), and what the governance board does about them (promote or block), plus the
organisation-level discovery keys collectors send spans with.

Counting is one statement per kind and export (``INSERT … ON CONFLICT DO UPDATE``), so two
exports racing on the same unknown name make one row with both counts. Promote and block lock the
row (``select_for_update``): a promotion and a block clicked at once cannot both win."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from registry.audit import acting_as
from registry.models import AgentVersion, Tool

from . import otlp_mapping as mapping
from .choices import DiscoveryKind, DiscoveryState
from .models import Discovery, DiscoveryKey


class DiscoveryConflict(Exception):
    """The entry was already reviewed (promoted or blocked) by someone else."""


def _upsert(kind: str, counts: dict[str, int], samples: dict[str, dict], now: datetime, agent_id=None) -> dict:
    """Count ``counts[name]`` spans against each (kind, name); return each name's state."""
    if not counts:
        return {}
    table = Discovery._meta.db_table
    values, params = [], []
    for name in sorted(counts):  # a fixed order: two exports lock rows in the same order
        values.append("(%s, %s, %s, %s, %s, %s, 0, %s::jsonb, %s)")
        params += [
            kind,
            name[:200],
            DiscoveryState.UNREVIEWED,
            now,
            now,
            counts[name],
            _json(samples.get(name, {})),
            agent_id,
        ]
    sql = (
        f"INSERT INTO {table} (kind, name, state, first_seen_at, last_seen_at, span_count, rejected_spans, sample, "  # noqa: S608 - table from model meta
        f"seen_by_agent_id) VALUES {', '.join(values)} ON CONFLICT (kind, name) DO UPDATE SET "
        f"last_seen_at = GREATEST({table}.last_seen_at, excluded.last_seen_at), "
        # A blocked entry's spans are refused: they add to its refused count, not to its volume.
        f"span_count = {table}.span_count + "
        f"CASE WHEN {table}.state = 'blocked' THEN 0 ELSE excluded.span_count END, "
        f"rejected_spans = {table}.rejected_spans + "
        f"CASE WHEN {table}.state = 'blocked' THEN excluded.span_count ELSE 0 END "
        "RETURNING name, state"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def _json(value) -> str:
    import json

    return json.dumps(value, default=str)


def agents_seen(samples: dict[str, dict], counts: dict[str, int], *, now: datetime) -> dict[str, str]:
    """Count spans naming unregistered agents (by name); return each name's state: a blocked
    name's spans count as refused, any other's as seen."""
    return _upsert(DiscoveryKind.AGENT, counts, samples, now)


@dataclass(frozen=True)
class KnownNames:
    """What the registry and the discovery queue say about the tool and model names of an export."""

    blocked_tools: frozenset[str]
    blocked_models: frozenset[str]
    catalog_tools: frozenset[str]  # of the names asked about, those in the tool catalog
    pinned_models: frozenset[str]  # of the names asked about, those a version pins (bare or provider/name)


def names_known(*, tools: Collection[str], models: Collection[str]) -> KnownNames:
    """The blocked tool and model names (a handful of rows), and which of ``tools`` are in the
    catalog and which of ``models`` some version of any agent pins: one query (it was three round
    trips per export)."""
    discovery, tool, version = Discovery._meta.db_table, Tool._meta.db_table, AgentVersion._meta.db_table
    sql = (
        f"SELECT kind, name FROM {discovery} WHERE state = %s AND kind <> %s "  # noqa: S608 - names from model meta
        f"UNION ALL SELECT 'catalog', name FROM {tool} WHERE name = ANY(%s) "
        f"UNION ALL SELECT 'pinned', model_name FROM {version} WHERE model_name = ANY(%s) "
        f"UNION ALL SELECT 'pinned', model_provider || '/' || model_name FROM {version} "
        "WHERE model_provider || '/' || model_name = ANY(%s)"
    )
    found: dict[str, set[str]] = {
        kind: set() for kind in (DiscoveryKind.TOOL, DiscoveryKind.MODEL, "catalog", "pinned")
    }
    models = list(models)
    with connection.cursor() as cursor:
        cursor.execute(sql, [DiscoveryState.BLOCKED, DiscoveryKind.AGENT, list(tools), models, models])
        for kind, name in cursor.fetchall():
            found[kind].add(name)
    return KnownNames(
        blocked_tools=frozenset(found[DiscoveryKind.TOOL]),
        blocked_models=frozenset(found[DiscoveryKind.MODEL]),
        catalog_tools=frozenset(found["catalog"]),
        pinned_models=frozenset(found["pinned"]),
    )


def blocked_hit(*, tool: str, model: str) -> None:
    """Count one refused span against a blocked tool or model."""
    kind, name = (DiscoveryKind.TOOL, tool) if tool else (DiscoveryKind.MODEL, model)
    Discovery.objects.filter(kind=kind, name=name, state=DiscoveryState.BLOCKED).update(
        rejected_spans=F("rejected_spans") + 1, last_seen_at=timezone.now()
    )


def catalog_gaps_seen(
    *,
    agent,
    tool_counts: dict[str, int],
    model_counts: dict[str, int],
    now: datetime,
    known: KnownNames | None = None,
) -> None:
    """Queue the tools missing from the catalog and the models no version of any agent pins,
    given how many spans named each (``execute_tool`` spans for tools). ``known`` is what
    :func:`names_known` answered for (at least) these names, when the caller already asked."""
    if not tool_counts and not model_counts:
        return
    if known is None:
        known = names_known(tools=tool_counts, models=model_counts)
    if tool_counts:
        unknown = {name: count for name, count in tool_counts.items() if name not in known.catalog_tools}
        _upsert(DiscoveryKind.TOOL, unknown, {n: {"seen_by": agent.slug} for n in unknown}, now, agent.pk)
    if model_counts:
        unknown = {name: count for name, count in model_counts.items() if name not in known.pinned_models}
        _upsert(DiscoveryKind.MODEL, unknown, {n: {"seen_by": agent.slug} for n in unknown}, now, agent.pk)


def _locked_unreviewed(discovery_id: int, kind: str | None = None) -> Discovery:
    entry = Discovery.objects.select_for_update().get(pk=discovery_id)
    if entry.state != DiscoveryState.UNREVIEWED:
        raise DiscoveryConflict(f"{entry} was already {entry.get_state_display().lower()}.")
    if kind and entry.kind != kind:
        raise DiscoveryConflict(f"{entry} is not a {kind}.")
    return entry


@transaction.atomic
def discovery_block(*, discovery_id: int, actor) -> Discovery:
    """Block an entry: later spans naming it are refused (and counted in ``rejected_spans``).
    Audited (django-auditlog records the state change and who made it)."""
    entry = _locked_unreviewed(discovery_id)
    with acting_as(actor):
        entry.state = DiscoveryState.BLOCKED
        entry.reviewed_by = actor
        entry.reviewed_at = timezone.now()
        entry.save(update_fields=["state", "reviewed_by", "reviewed_at"])
    return entry


@transaction.atomic
def discovery_promote_agent(*, discovery_id: int, form, actor) -> Discovery:
    """Promote an unknown agent: the registry's own agent form (``registry.forms.AgentForm``,
    pre-filled from what was seen) registers it through ``registry.services.agent_save_from_form``,
    so it starts as *proposed* like any new agent and no governed field is set on the way."""
    from registry.services import agent_save_from_form

    entry = _locked_unreviewed(discovery_id, DiscoveryKind.AGENT)
    with acting_as(actor):
        agent = agent_save_from_form(form=form, user=actor)
        entry.state = DiscoveryState.PROMOTED
        entry.reviewed_by = actor
        entry.reviewed_at = timezone.now()
        entry.promoted_agent = agent
        entry.save(update_fields=["state", "reviewed_by", "reviewed_at", "promoted_agent"])
    return entry


@transaction.atomic
def discovery_promote_tool(*, discovery_id: int, form, actor) -> Discovery:
    """Promote an unknown tool into the catalog (a validated ``telemetry.forms.CatalogToolForm``)."""
    entry = _locked_unreviewed(discovery_id, DiscoveryKind.TOOL)
    with acting_as(actor):
        tool = form.save()
        entry.state = DiscoveryState.PROMOTED
        entry.reviewed_by = actor
        entry.reviewed_at = timezone.now()
        entry.promoted_tool = tool
        entry.save(update_fields=["state", "reviewed_by", "reviewed_at", "promoted_tool"])
    return entry


def agent_initial(entry: Discovery) -> dict:
    """What the agent form starts with, from what the spans said."""
    sample = entry.sample or {}
    slug = mapping.catalog_tool_name(entry.name).removeprefix(mapping.UNLISTED_PREFIX).replace("_", "-")[:64]
    purpose = sample.get("description") or (
        f"Discovered from OpenTelemetry spans (service {sample.get('service_name') or '—'}, "
        f"models {', '.join(sample.get('models') or []) or '—'}, tools {', '.join(sample.get('tools') or []) or '—'})."
    )
    return {"slug": slug, "name": entry.name[:120], "purpose": str(purpose)[:4000]}


# --- discovery keys ------------------------------------------------------------------------------

DISCOVERY_KEY_LIFETIME_DAYS = 365


def discovery_key_issue(
    *, name: str, actor, expires_in_days: int = DISCOVERY_KEY_LIFETIME_DAYS
) -> tuple[DiscoveryKey, str]:
    """Issue an organisation-level discovery key; the secret is returned once and stored hashed."""
    with acting_as(actor):
        key, secret = DiscoveryKey.objects.create_key(
            name=name[:50], created_by=actor, expiry_date=timezone.now() + timedelta(days=expires_in_days)
        )
    return key, secret


def discovery_key_revoke(*, key_id: str, actor) -> DiscoveryKey:
    with transaction.atomic(), acting_as(actor):
        key = DiscoveryKey.objects.select_for_update().get(pk=key_id)
        if not key.revoked:
            key.revoked = True
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked", "revoked_at"])
    return key
