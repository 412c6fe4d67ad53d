"""Registry rules: creating agents and versions, ownership rights, review cadence."""

from __future__ import annotations

from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from .audit import acting_as
from .models import Agent, AgentVersion, GlobalControls, Tool, ToolGrant
from .roles import OWNER_OBJECT_PERMISSIONS


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
        previous_owner = Agent.objects.select_for_update().get(pk=form.instance.pk).owner
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
    created_by=None,
) -> AgentVersion:
    """A new draft version with its tool grants; the bundle digest covers the grants."""
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
    version.refresh_bundle_digest()
    return version


CONTROL_FIELDS = frozenset({"side_effects_enabled", "canary_version", "canary_share_pct"})


@transaction.atomic
def agent_controls_update(*, agent_id: int, actor=None, **changes) -> Agent:
    """Change an agent's runtime controls (kill switch, canary version and share).

    Every control change goes through here: the row is locked so two operators
    cannot interleave, and ``controls_revision`` is bumped so agents polling
    ``/api/v1/controls/`` with an ETag see the change on their very next request."""
    unknown = set(changes) - CONTROL_FIELDS
    if unknown:
        raise ValueError(f"Not a runtime control: {', '.join(sorted(unknown))}")
    agent = Agent.objects.select_for_update().get(pk=agent_id)
    for field, value in changes.items():
        setattr(agent, field, value)
    agent.controls_revision += 1
    with acting_as(actor):
        agent.save(update_fields=[*changes, "controls_revision"])
    return agent


@transaction.atomic
def global_controls_set(*, side_effects_enabled: bool, actor=None, reason: str = "") -> GlobalControls:
    """Flip the fleet-wide kill switch (row locked; revision bumped for ETags)."""
    GlobalControls.load()
    controls = GlobalControls.objects.select_for_update().get(pk=1)
    controls.side_effects_enabled = side_effects_enabled
    controls.changed_by = actor
    controls.reason = reason
    controls.revision += 1
    with acting_as(actor):
        controls.save()
    return controls
