"""Registry rules: creating agents and versions, ownership rights, runtime controls, and the
state changes an approved request makes to agents and versions.

The approval engine decides *whether* a change happens; the services below are *how* it happens,
so the registry's own invariants (only an approved version is deployed, one deployed version per
agent, a pinned configuration never changes under an approval) are kept in one place. They run
inside the engine's transaction and lock the rows they change. A change that no longer fits the
row as it is now raises :class:`RegistryConflict` and writes nothing; the engine then keeps the
request approved-but-blocked with that sentence."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from .audit import acting_as
from .audit_chain import chain_append
from .choices import PROMOTABLE_VERSION_STATES, AgentStatus, VersionState
from .models import Agent, AgentAPIKey, AgentVersion, GlobalControls, Tool, ToolGrant, ToolPin, UserAPIKey
from .roles import OWNER_OBJECT_PERMISSIONS


class RegistryConflict(Exception):
    """The agent or version moved since the change was decided; nothing was written."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def agent_grant_owner_rights(*, agent: Agent, previous_owner=None) -> None:
    """The owner of an agent may view and edit that agent (and no other, unless
    their role says so). A change of owner moves those rights."""
    if previous_owner is not None and previous_owner != agent.owner:
        for codename in OWNER_OBJECT_PERMISSIONS:
            remove_perm(codename, previous_owner, agent)
    for codename in OWNER_OBJECT_PERMISSIONS:
        assign_perm(codename, agent.owner, agent)


@transaction.atomic
def agent_save_from_form(*, form, user) -> Agent:
    """Save a validated agent form (create or edit) and keep the owner's object rights in step."""
    previous_owner = None
    if form.instance.pk:
        previous_owner = Agent.objects.select_for_update(no_key=True).get(pk=form.instance.pk).owner
    agent = form.save()
    agent_grant_owner_rights(agent=agent, previous_owner=previous_owner)
    return agent


@transaction.atomic
def version_create(
    *,
    agent: Agent,
    label: str,
    model_provider: str,
    model_name: str,
    prompt_ref: str,
    policy_version: str = "1",
    changelog: str = "",
    tools: dict[Tool, dict] | None = None,
    pins: list[dict] | None = None,
    created_by=None,
) -> AgentVersion:
    """A new draft version with its tool grants and MCP tool pins; the bundle digest covers both.

    ``pins`` (``name``, ``description``, ``input_schema`` each) default to the deployed
    version's: a new version keeps the tool definitions people already approved, and a different
    definition is pinned only through a ``tool_pin`` request (see :func:`version_deploy_with_pin`)."""
    version = AgentVersion.objects.create(
        agent=agent,
        label=label,
        model_provider=model_provider,
        model_name=model_name,
        prompt_ref=prompt_ref,
        policy_version=policy_version,
        changelog=changelog,
        created_by=created_by,
    )
    for tool, constraints in (tools or {}).items():
        ToolGrant.objects.create(version=version, tool=tool, constraints=constraints or {})
    if pins is None:
        deployed = agent.versions.filter(state=VersionState.DEPLOYED).exclude(pk=version.pk).first()
        pins = _pins_of(deployed) if deployed else []
    for pin in pins:
        ToolPin.objects.create(
            version=version, name=pin["name"], description=pin["description"], input_schema=pin["input_schema"]
        )
    version.refresh_bundle_digest()
    return version


def _pins_of(version: AgentVersion) -> list[dict]:
    return [
        {"name": p.name, "description": p.description, "input_schema": p.input_schema}
        for p in version.tool_pins.order_by("name")
    ]


CONTROL_FIELDS = frozenset({"side_effects_enabled", "canary_version", "canary_share_pct"})


@transaction.atomic
def agent_controls_update(*, agent_id: int, actor=None, reason: str = "", **changes) -> Agent:
    """Change an agent's runtime controls (kill switch, canary version and share).

    Every control change goes through here: the row is locked so two operators
    cannot interleave, and ``controls_revision`` is bumped so agents polling
    ``/api/v1/controls/`` with an ETag see the change on their very next request."""
    unknown = set(changes) - CONTROL_FIELDS
    if unknown:
        raise ValueError(f"Not a runtime control: {', '.join(sorted(unknown))}")
    agent = Agent.objects.select_for_update(no_key=True).get(pk=agent_id)
    was_enabled = agent.side_effects_enabled
    for field, value in changes.items():
        setattr(agent, field, value)
    agent.controls_revision += 1
    with acting_as(actor):
        agent.save(update_fields=[*changes, "controls_revision"])
    if agent.side_effects_enabled != was_enabled:
        _chain_kill_switch(enabled=agent.side_effects_enabled, actor=actor, agent=agent, obj=agent, reason=reason)
    return agent


def _chain_kill_switch(*, enabled: bool, actor, agent: Agent | None, obj, reason: str = "") -> None:
    """A kill-switch pull or re-enable on the audit chain (issue 15): every path that flips
    side effects passes through the two services here, so this is the one hook point."""
    scope = agent.slug if agent is not None else "the fleet"
    words = f"side effects {'re-enabled' if enabled else 'disabled'} for {scope}"
    chain_append(
        action="killswitch.reenable" if enabled else "killswitch.pull",
        actor=actor,
        agent=agent,
        obj=obj,
        summary=f"{words}: {reason}" if reason else words,
        payload={"side_effects_enabled": enabled, "scope": scope, "reason": reason},
    )


@transaction.atomic
def global_controls_set(*, side_effects_enabled: bool, actor=None, reason: str = "") -> GlobalControls:
    """Flip the fleet-wide kill switch (row locked; revision bumped for ETags)."""
    GlobalControls.load()
    controls = GlobalControls.objects.select_for_update().get(pk=1)
    was_enabled = controls.side_effects_enabled
    controls.side_effects_enabled = side_effects_enabled
    controls.changed_by = actor
    controls.reason = reason
    controls.revision += 1
    with acting_as(actor):
        controls.save()
    if was_enabled != side_effects_enabled:
        _chain_kill_switch(enabled=side_effects_enabled, actor=actor, agent=None, obj=controls, reason=reason)
    return controls


# --- credentials of principals: agents' keys and people's tokens -----------------------------

DEFAULT_KEY_LIFETIME_DAYS = 90
MAX_KEY_LIFETIME_DAYS = 365


class CredentialError(Exception):
    """A key operation that cannot be done (already revoked, expired, another agent's key)."""


# --- agent credentials -----------------------------------------------------------------------


def _expiry(days: int) -> datetime:
    if not 1 <= days <= MAX_KEY_LIFETIME_DAYS:
        raise CredentialError(f"A key lives between 1 and {MAX_KEY_LIFETIME_DAYS} days.")
    return timezone.now() + timedelta(days=days)


@transaction.atomic
def agent_key_issue(
    *, agent: Agent, name: str, actor=None, expires_in_days: int = DEFAULT_KEY_LIFETIME_DAYS, rotated_from=None
) -> tuple[AgentAPIKey, str]:
    """Issue a key that acts as ``agent`` only. The secret is returned once and stored hashed;
    keys expire (90 days unless said otherwise, at most a year)."""
    name = (name or "").strip()
    if not name:
        raise CredentialError("Give the key a name (where it is used).")
    with acting_as(actor):
        return AgentAPIKey.objects.create_key(
            agent=agent,
            name=name[:50],
            created_by=actor,
            expiry_date=_expiry(expires_in_days),
            rotated_from=rotated_from,
        )


@transaction.atomic
def agent_key_revoke(*, agent: Agent, key_id: str, actor=None) -> AgentAPIKey:
    """Revoke a key of this agent at once (irreversible). The row is locked so a concurrent
    rotate cannot resurrect it; revoking twice is harmless."""
    key = AgentAPIKey.objects.select_for_update().filter(agent=agent, pk=key_id).first()
    if key is None:
        raise CredentialError("No such key for this agent.")
    if not key.revoked:
        key.revoked, key.revoked_at, key.revoked_by = True, timezone.now(), actor
        with acting_as(actor):
            key.save(update_fields=["revoked", "revoked_at", "revoked_by"])
    return key


@transaction.atomic
def agent_key_rotate(*, agent: Agent, key_id: str, actor=None, grace_hours: int = 0) -> tuple[AgentAPIKey, str]:
    """Replace a usable key by a new one with the same name. The old key stops working now,
    or after ``grace_hours`` (≤ 72) so a fleet can roll the new secret out first."""
    if not 0 <= grace_hours <= 72:
        raise CredentialError("The grace period is between 0 and 72 hours.")
    old = AgentAPIKey.objects.select_for_update().filter(agent=agent, pk=key_id).first()
    if old is None:
        raise CredentialError("No such key for this agent.")
    if not old.is_usable:
        raise CredentialError("This key is revoked or expired; issue a new key instead.")
    new, secret = agent_key_issue(agent=agent, name=old.name, actor=actor, rotated_from=old)
    if grace_hours == 0:
        agent_key_revoke(agent=agent, key_id=old.pk, actor=actor)
    else:
        cutoff = timezone.now() + timedelta(hours=grace_hours)
        if old.expiry_date is None or old.expiry_date > cutoff:
            old.expiry_date = cutoff
            with acting_as(actor):
                old.save(update_fields=["expiry_date"])
    return new, secret


# --- people's tokens ---------------------------------------------------------------------------


@transaction.atomic
def user_key_issue(*, user, name: str, expires_in_days: int = DEFAULT_KEY_LIFETIME_DAYS) -> tuple[UserAPIKey, str]:
    """A person's own API token, acting with exactly their rights; shown once, stored hashed."""
    name = (name or "").strip()
    if not name:
        raise CredentialError("Give the token a name (where it is used).")
    return UserAPIKey.objects.create_key(user=user, name=name[:50], expiry_date=_expiry(expires_in_days))


@transaction.atomic
def user_key_revoke(*, user, key_id: str) -> UserAPIKey:
    """A person revokes one of their own tokens (never someone else's)."""
    key = UserAPIKey.objects.select_for_update().filter(user=user, pk=key_id).first()
    if key is None:
        raise CredentialError("No such token.")
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key


# --- effects of approved change requests ---------------------------------------------------
# Lock order everywhere: the agent row first, then its versions (two applies cannot deadlock).
# Locks on agents, versions and tools are FOR NO KEY UPDATE (no_key=True): they exclude each other
# as FOR UPDATE would, but not the key-share lock of an action, run or span being stored for the
# row (its foreign key's check). FOR UPDATE made those inserts wait on an operator's change while
# they held the audit chain's lock, a deadlock (registry/budgets.py, hard_cap_reached).


def _agent_of_version_locked(version_id: int) -> Agent:
    agent_id = AgentVersion.objects.filter(pk=version_id).values_list("agent_id", flat=True).get()
    return Agent.objects.select_for_update(no_key=True).get(pk=agent_id)


def version_grant_label(*, agent: Agent, base_label: str, mark: str = "g") -> str:
    """The label of a version made by granting a tool to ``base_label``: ``1.4+g1``, ``1.4+g2``…
    the first one the agent does not have yet (``mark="p"``: pinning a tool, ``1.4+p1``)."""
    taken = set(agent.versions.values_list("label", flat=True))
    n = 1
    while f"{base_label}+{mark}{n}" in taken:
        n += 1
    return f"{base_label}+{mark}{n}"[:40]


def _version_locked(*, version_id: int, bundle_digest: str | None = None) -> AgentVersion:
    version = AgentVersion.objects.select_for_update(no_key=True).get(pk=version_id)
    if bundle_digest is not None and version.bundle_digest != bundle_digest:
        raise RegistryConflict(f"Version {version.label}'s configuration changed since it was approved; request again.")
    return version


def _version_set_state(version: AgentVersion, state: str, **stamps) -> None:
    version.state = state
    for field, value in stamps.items():
        setattr(version, field, value)
    version.save(update_fields=["state", *stamps])


@transaction.atomic
def version_review_start(*, version_id: int) -> AgentVersion:
    """A draft proposed for approval goes under review, which freezes its configuration: the
    digest the approvers see is what gets approved. Any other state is left as it is."""
    version = _version_locked(version_id=version_id)
    if version.state == VersionState.DRAFT:
        _version_set_state(version, VersionState.IN_REVIEW)
    return version


@transaction.atomic
def version_review_abandon(*, version_id: int) -> AgentVersion:
    """A version whose review ended without approval is a draft again (editable). The caller
    decides that no other review of it is still open."""
    version = _version_locked(version_id=version_id)
    if version.state == VersionState.IN_REVIEW:
        _version_set_state(version, VersionState.DRAFT)
    return version


@transaction.atomic
def version_approve(*, version_id: int, bundle_digest: str) -> AgentVersion:
    """Approve a draft or in-review version, provided its configuration is still the one that
    was approved (``bundle_digest``). An approved version may then be deployed."""
    version = _version_locked(version_id=version_id, bundle_digest=bundle_digest)
    if version.state not in (VersionState.DRAFT, VersionState.IN_REVIEW):
        raise RegistryConflict(f"Version {version.label} is already {version.get_state_display().lower()}.")
    _version_set_state(version, VersionState.APPROVED, approved_at=timezone.now())
    return version


def _supersede_deployed(agent: Agent, except_pk: int | None = None) -> AgentVersion | None:
    """The agent's deployed version, if any (other than ``except_pk``), becomes superseded: at
    most one deployed version per agent (a database constraint too)."""
    current = (
        AgentVersion.objects.select_for_update(no_key=True)
        .filter(agent=agent, state=VersionState.DEPLOYED)
        .exclude(pk=except_pk)
    ).first()
    if current is not None:
        _version_set_state(current, VersionState.SUPERSEDED)
    return current


def _agent_mark_live(agent: Agent, now) -> None:
    agent.status = AgentStatus.PRODUCTION
    fields = ["status"]
    if agent.deployed_at is None:  # the first go-live date is kept for good
        agent.deployed_at = now
        fields.append("deployed_at")
    agent.save(update_fields=fields)


@transaction.atomic
def version_deploy(*, version_id: int, bundle_digest: str, actor=None) -> AgentVersion:
    """Deploy an approved version whose configuration is unchanged (``bundle_digest``): the
    previously deployed one is superseded, the agent is in production (its first go-live date
    kept), and a canary that was this very version is cleared, since it now takes all traffic.
    A retired agent is never deployed again."""
    agent = _agent_of_version_locked(version_id)
    version = _version_locked(version_id=version_id, bundle_digest=bundle_digest)
    if version.state not in PROMOTABLE_VERSION_STATES:
        raise RegistryConflict(f"Version {version.label} is {version.get_state_display().lower()}, no longer approved.")
    if agent.status == AgentStatus.RETIRED:
        raise RegistryConflict(f"{agent.name} was retired meanwhile.")
    now = timezone.now()
    _supersede_deployed(agent, except_pk=version.pk)
    _version_set_state(version, VersionState.DEPLOYED, deployed_at=now)
    _agent_mark_live(agent, now)
    if agent.canary_version_id == version.pk:
        agent_controls_update(agent_id=agent.pk, actor=actor, canary_version=None, canary_share_pct=Decimal("0"))
    return version


@transaction.atomic
def version_deploy_with_grant(
    *, base_version_id: int, base_digest: str, tool: Tool, constraints: dict, label: str, changelog: str, created_by
) -> AgentVersion:
    """Grant a tool to a deployed agent. Deployed versions are frozen, so the grant becomes a new
    version: the deployed one's pinned configuration plus the tool, approved and deployed at once,
    the base superseded. Refused when the deployed version is no longer ``base_digest``.
    ``label`` is the new version's label (see :func:`version_grant_label`)."""
    agent = _agent_of_version_locked(base_version_id)
    base = _version_locked(version_id=base_version_id)
    if base.state != VersionState.DEPLOYED or base.bundle_digest != base_digest:
        deployed = agent.deployed_version
        raise RegistryConflict(
            f"The deployed version changed since this grant was requested (it was {base.label}, now "
            f"{deployed.label if deployed else 'none'}); request the grant again."
        )
    tools = {g.tool: g.constraints for g in base.grants.select_related("tool")}
    tools[tool] = constraints
    if agent.versions.filter(label=label).exists():  # taken since the request was made
        label = version_grant_label(agent=agent, base_label=base.label)
    version = version_create(
        agent=agent,
        label=label,
        model_provider=base.model_provider,
        model_name=base.model_name,
        prompt_ref=base.prompt_ref,
        policy_version=base.policy_version,
        changelog=changelog,
        tools=tools,
        pins=_pins_of(base),
        created_by=created_by,
    )
    now = timezone.now()
    _version_set_state(base, VersionState.SUPERSEDED)
    _version_set_state(version, VersionState.DEPLOYED, approved_at=now, deployed_at=now)
    return version


@transaction.atomic
def version_deploy_with_pin(
    *,
    base_version_id: int,
    base_digest: str,
    name: str,
    description: str,
    input_schema: dict,
    label: str,
    changelog: str,
    created_by,
) -> AgentVersion:
    """Pin an MCP tool definition for a deployed agent (issue 17). Deployed versions are frozen,
    so, as for a grant, the pin becomes a new version: the deployed one's configuration with
    ``name`` pinned to this definition (replacing an earlier pin of the same name), deployed at
    once, the base superseded. Refused when the deployed version is no longer ``base_digest``."""
    agent = _agent_of_version_locked(base_version_id)
    base = _version_locked(version_id=base_version_id)
    if base.state != VersionState.DEPLOYED or base.bundle_digest != base_digest:
        deployed = agent.deployed_version
        raise RegistryConflict(
            f"The deployed version changed since this pin was requested (it was {base.label}, now "
            f"{deployed.label if deployed else 'none'}); the gateway will ask again."
        )
    pins = {p["name"]: p for p in _pins_of(base)}
    pins[name] = {"name": name, "description": description, "input_schema": input_schema}
    if agent.versions.filter(label=label).exists():  # taken since the request was made
        label = version_grant_label(agent=agent, base_label=base.label, mark="p")
    version = version_create(
        agent=agent,
        label=label,
        model_provider=base.model_provider,
        model_name=base.model_name,
        prompt_ref=base.prompt_ref,
        policy_version=base.policy_version,
        changelog=changelog,
        tools={g.tool: g.constraints for g in base.grants.select_related("tool")},
        pins=[pins[key] for key in sorted(pins)],
        created_by=created_by,
    )
    now = timezone.now()
    _version_set_state(base, VersionState.SUPERSEDED)
    _version_set_state(version, VersionState.DEPLOYED, approved_at=now, deployed_at=now)
    return version


@transaction.atomic
def version_rollback_to_previous(*, agent_id: int, actor=None, reason: str) -> tuple[AgentVersion, AgentVersion]:
    """Deploy again the version that was deployed before the current one (issue 19): the one path
    that re-deploys a superseded version. The current version becomes *rolled back* (it may go live
    again, but only through an approved request), any canary ends, and the controls revision is
    bumped so agents see the change on their next ``/api/v1/controls/`` call.

    Returns ``(previous, rolled_back)``. Refused when there is no deployed version or no earlier
    one. The agent row is locked first (the lock order of every apply), so a go-live approved at
    the same moment waits and then sees the rolled-back state."""
    agent = Agent.objects.select_for_update(no_key=True).get(pk=agent_id)
    current = (
        AgentVersion.objects.select_for_update(no_key=True).filter(agent=agent, state=VersionState.DEPLOYED).first()
    )
    if current is None:
        raise RegistryConflict(f"{agent.name} has no deployed version to roll back.")
    previous = (
        AgentVersion.objects.select_for_update(no_key=True)
        .filter(agent=agent, state=VersionState.SUPERSEDED, deployed_at__isnull=False)
        .order_by("-deployed_at", "-pk")
        .first()
    )
    if previous is None:
        raise RegistryConflict(f"{agent.name} has no earlier deployed version to go back to.")
    _version_set_state(current, VersionState.ROLLED_BACK)
    _version_set_state(previous, VersionState.DEPLOYED, deployed_at=timezone.now())
    agent_controls_update(
        agent_id=agent.pk, actor=actor, reason=reason, canary_version=None, canary_share_pct=Decimal("0")
    )
    return previous, current


@transaction.atomic
def canary_set(*, agent_id: int, version_id: int, bundle_digest: str, share_pct: Decimal, actor=None) -> Agent:
    """Send ``share_pct`` % of the agent's traffic to an approved version whose configuration is
    unchanged (``bundle_digest``); a share of 0 ends the canary."""
    Agent.objects.select_for_update(no_key=True).get(pk=agent_id)  # lock order: the agent first
    version = _version_locked(version_id=version_id, bundle_digest=bundle_digest)
    if version.state not in PROMOTABLE_VERSION_STATES:
        raise RegistryConflict(f"Version {version.label} is {version.get_state_display().lower()}, no longer approved.")
    return agent_controls_update(
        agent_id=agent_id,
        actor=actor,
        canary_version=version if share_pct > 0 else None,
        canary_share_pct=share_pct,
    )


@transaction.atomic
def agent_retire(*, agent_id: int, actor=None) -> Agent:
    """Retire an agent for good: status retired, side effects off, no canary."""
    agent = Agent.objects.select_for_update(no_key=True).get(pk=agent_id)
    agent.status = AgentStatus.RETIRED
    agent.save(update_fields=["status"])
    return agent_controls_update(
        agent_id=agent.pk, actor=actor, side_effects_enabled=False, canary_version=None, canary_share_pct=Decimal("0")
    )


@transaction.atomic
def agent_set_tier(*, agent_id: int, risk_tier: int, from_tier: int) -> Agent:
    """Move an agent to another risk tier, provided it is still at ``from_tier`` (the tier the
    change was decided from: a tier changed meanwhile needs a new decision)."""
    agent = Agent.objects.select_for_update(no_key=True).get(pk=agent_id)
    if agent.risk_tier != from_tier:
        raise RegistryConflict(f"The tier changed meanwhile (approved from tier {from_tier}, now {agent.risk_tier}).")
    agent.risk_tier = risk_tier
    agent.save(update_fields=["risk_tier"])
    return agent


@transaction.atomic
def agent_set_status(*, agent_id: int, status: str, from_status: str, actor=None) -> Agent:
    """Move an agent to another lifecycle status, provided it is still in ``from_status`` (the
    status the change was decided from). Retirement has its own service (:func:`agent_retire`)."""
    agent = Agent.objects.select_for_update(no_key=True).get(pk=agent_id)
    if agent.status != from_status:
        raise RegistryConflict(
            f"The status changed meanwhile (approved from {from_status}, now {agent.get_status_display().lower()})."
        )
    if status == AgentStatus.PRODUCTION and not agent.versions.filter(state=VersionState.DEPLOYED).exists():
        raise RegistryConflict(f"{agent.name} has no deployed version to run in production.")
    agent.status = status
    with acting_as(actor):
        agent.save(update_fields=["status"])
    return agent


@transaction.atomic
def agent_scope_set(*, agent_id: int, field: str, value, from_value, actor=None) -> Agent:
    """Change one governed scope field of an agent (``registry.governance.AGENT_SCOPE_FIELDS``:
    owner team, owner, sponsor, data classification, data sources and systems, thresholds,
    budget) to ``value`` (payload form), provided it still holds ``from_value``. A new owner
    takes over the owner's object rights."""
    from .governance import AGENT_SCOPE_FIELDS, governed_value_current

    if field not in AGENT_SCOPE_FIELDS:
        raise ValueError(f"Not a scope field: {field}")
    agent = Agent.objects.select_for_update(no_key=True).get(pk=agent_id)
    if governed_value_current(agent, field) != from_value:
        raise RegistryConflict(f"{agent._meta.get_field(field).verbose_name} changed meanwhile; ask again.")
    previous_owner = agent.owner
    model_field = agent._meta.get_field(field)
    with acting_as(actor):
        if model_field.many_to_many:
            getattr(agent, field).set(value)
        else:
            setattr(agent, model_field.attname, value)
            agent.save(update_fields=[field])
    if field == "owner":
        agent.refresh_from_db()
        agent_grant_owner_rights(agent=agent, previous_owner=previous_owner)
    return agent


@transaction.atomic
def tool_set_tier(*, tool_id: int, action_tier: int, from_tier: int, actor=None) -> Tool:
    """Move a catalog tool to another action tier, provided it is still at ``from_tier``. The
    gate's defaults follow the tier, so lowering it is a two-person change request."""
    tool = Tool.objects.select_for_update(no_key=True).get(pk=tool_id)
    if tool.action_tier != from_tier:
        raise RegistryConflict(
            f"{tool.name}'s tier changed meanwhile (approved from {from_tier}, now {tool.action_tier})."
        )
    tool.action_tier = action_tier
    with acting_as(actor):
        tool.save(update_fields=["action_tier"])
    return tool
