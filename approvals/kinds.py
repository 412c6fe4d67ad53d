"""Request kinds: what each kind's payload looks like, who may ask for it, and its effect.

The engine in ``approvals.services`` knows nothing about agents' versions or canaries; it asks
the kind. Another app adds a kind by calling :func:`register_kind` from its ``AppConfig.ready``
with its own payload normaliser, effect applier, approver floor and (optionally) eligible roles.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import capfirst

from registry import roles as role_names
from registry import services as registry_services
from registry.choices import PROMOTABLE_VERSION_STATES, ActionTier, AgentStatus, RiskTier, VersionState
from registry.governance import (
    AGENT_SCOPE_FIELDS,
    APPROVAL_POLICY_CHANGE,
    SCOPE_CHANGE,
    STATUS_CHANGE,
    TOOL_TIER_CHANGE,
    governed_formfield,
    governed_value_current,
    governed_value_parse,
    governed_value_words,
)
from registry.grant_constraints import constraints_validate
from registry.models import Agent, AgentVersion, Tool
from registry.services import RegistryConflict

from . import kind_forms
from .choices import OPEN_STATUSES, RequestKind
from .exceptions import ApplyBlocked
from .kind_forms import MAX_CONSTRAINTS_CHARS
from .models import ApprovalPolicy, ApprovalRequest


@dataclass(frozen=True)
class DiffRow:
    """One line of "what would change": the field, its value now, its value after applying."""

    label: str
    current: str
    proposed: str

    @property
    def changes(self) -> bool:
        return self.current != self.proposed


@dataclass(frozen=True)
class KindSpec:
    """Everything the engine needs to know about one kind of request.

    ``normalize(agent, payload, version)`` validates the requester's payload (raising a
    ``ValidationError`` with field messages) and returns ``(canonical_payload, version)``;
    the canonical payload is what is hashed and what approvers see. ``apply(request, actor)``
    performs the effect inside the engine's transaction (request row locked); it may raise
    :class:`~approvals.exceptions.ApplyBlocked` when the world moved since approval."""

    value: str
    label: str
    normalize: Callable[[Agent, dict, AgentVersion | None], tuple[dict, AgentVersion | None]]
    apply: Callable
    diff: Callable[[object], list[DiffRow]]
    has_checklist: bool = False
    # Floor for required approvals regardless of the admin-edited policy.
    min_approvals: int = 1
    # Registry object permissions (any of them) a person needs to raise this kind.
    request_perms: tuple[str, ...] = ("change_agent",)
    # Roles that may decide; None = what the policy row says.
    eligible_roles: tuple[str, ...] | None = None
    # Which tier's policy applies; default: the agent's tier.
    policy_tier: Callable[[Agent, dict], int] | None = None
    # How long a request stays open; None = settings.APPROVAL_REQUEST_TTL.
    ttl: timedelta | None = None
    # Called when a request of this kind is created / closes without being applied.
    on_create: Callable | None = None
    on_abandon: Callable | None = None
    # True for a kind that can weaken a control (lower a tier, loosen a threshold, turn a gate
    # back on): such a kind needs two distinct approvers, neither the requester, whatever the
    # admin-edited policy says (checked at registration and by tests/test_governed_doors.py).
    lowers_control: bool = False
    # Why deciding one request of this kind needs a fresh multi-factor sign-in beyond the engine's
    # own reasons (tier 1, lowers a control): request -> sentence, or None. E.g. a runtime action
    # above QUORUM_STEP_UP_ACTION_AMOUNT_USD (actions/kind.py). See eligibility.step_up_refusal.
    step_up: Callable[[object], str | None] | None = None
    # A change to the whole fleet: its requests have no agent (``normalize`` gets None), and only
    # people holding the kind's rights (and approve_agent) for every agent may ask and decide.
    fleet_wide: bool = False
    # Offered on the agent card's request buttons (a fleet-wide kind or one raised by the system
    # is not).
    by_hand: bool = True
    # Advice the API's 201 answer carries with a created request, never a refusal: request ->
    # [{"line", "column", "message", ...}] (e.g. the static-analysis warnings of a policy change).
    warnings: Callable[[object], list[dict]] | None = None

    @property
    def offered_per_agent(self) -> bool:
        return self.by_hand and not self.fleet_wide

    # The request form's fields for this kind: agent -> {name: form field}, each cleaning to the
    # payload value of the same name (see approvals.kind_forms). None: a justification only.
    form_fields: Callable[[Agent], dict[str, forms.Field]] | None = None
    # False when ``diff`` reads only the payload: applying then takes its "now / after" rows
    # without a savepoint around them.
    diff_reads_db: bool = True
    # True when ``apply`` raises ``ApplyBlocked`` only before it writes anything: applying then
    # needs no savepoint to undo a blocked apply's writes (any other error fails the transaction).
    apply_blocks_before_writing: bool = False


_KINDS: dict[str, KindSpec] = {}


def register_kind(spec: KindSpec) -> None:
    """Add a request kind. Registering the same value twice is a programming error, and so is a
    kind that lowers a control with fewer than two approvers."""
    if spec.lowers_control and spec.min_approvals < 2:
        raise ValueError(f"Request kind {spec.value!r} lowers a control: it needs min_approvals >= 2.")
    if spec.value in _KINDS and _KINDS[spec.value] is not spec:
        raise ValueError(f"Request kind {spec.value!r} is already registered.")
    _KINDS[spec.value] = spec


def kind_get(value: str) -> KindSpec:
    try:
        return _KINDS[value]
    except KeyError:
        raise ValidationError(
            {"kind": f"Unknown request kind {value!r}; use one of: {', '.join(sorted(_KINDS))}."}
        ) from None


def kinds_all() -> list[KindSpec]:
    return list(_KINDS.values())


def kind_label(value: str) -> str:
    spec = _KINDS.get(value)
    return spec.label if spec else value


# --- payload helpers ----------------------------------------------------------------------


def _version_from(agent: Agent, payload: dict, version: AgentVersion | None) -> AgentVersion:
    """The version named by ``version`` (argument), ``payload["version_id"]`` or ``payload["version"]`` (label)."""
    if version is not None:
        if version.agent_id != agent.pk:
            raise ValidationError({"version": f"Version {version.label} belongs to another agent."})
        return version
    if payload.get("version_id") is not None:
        try:
            return agent.versions.get(pk=int(payload["version_id"]))
        except (TypeError, ValueError, AgentVersion.DoesNotExist):
            raise ValidationError(
                {"version_id": f"{agent.slug} has no version with id {payload['version_id']!r}."}
            ) from None
    label = payload.get("version")
    if not label or not isinstance(label, str):
        raise ValidationError({"version": "Name the version (its label, for example 1.4)."})
    try:
        return agent.versions.get(label=label)
    except AgentVersion.DoesNotExist:
        raise ValidationError({"version": f"{agent.slug} has no version {label!r}."}) from None


def _version_payload(version: AgentVersion) -> dict:
    return {"version_id": version.pk, "label": version.label, "bundle_digest": version.bundle_digest}


def _reject_unknown(payload: dict, allowed: set[str]) -> None:
    if not isinstance(payload, dict):
        raise ValidationError({"payload": "The payload must be a JSON object."})
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise ValidationError({"payload": f"Unknown field(s) for this kind: {', '.join(unknown)}."})


def _deployed_label(agent: Agent) -> str:
    deployed = agent.deployed_version
    return deployed.label if deployed else "none"


@contextmanager
def _blocked_on_conflict() -> Iterator[None]:
    """The registry refuses an effect the world has moved past: the request stays approved but
    blocked, with the registry's sentence."""
    try:
        yield
    except RegistryConflict as exc:
        raise ApplyBlocked(exc.message) from None


# --- new_version ----------------------------------------------------------------------------


def _new_version_normalize(agent, payload, version):
    _reject_unknown(payload, {"version", "version_id", "label", "bundle_digest"})
    version = _version_from(agent, payload, version)
    if version.state not in (VersionState.DRAFT, VersionState.IN_REVIEW):
        raise ValidationError(
            {"version": f"Version {version.label} is {version.get_state_display().lower()}, not a draft to review."}
        )
    return _version_payload(version), version


def _new_version_on_create(request):
    # Under review the configuration is frozen, so the digest the approvers see is what gets approved.
    registry_services.version_review_start(version_id=request.payload["version_id"])


def _new_version_on_abandon(request):
    # Another open request may still be reviewing the same version.
    others_open = ApprovalRequest.objects.filter(
        version_id=request.payload["version_id"], status__in=OPEN_STATUSES
    ).exclude(pk=request.pk)
    if not others_open.exists():
        registry_services.version_review_abandon(version_id=request.payload["version_id"])


def _new_version_apply(request, actor):
    with _blocked_on_conflict():
        registry_services.version_approve(
            version_id=request.payload["version_id"], bundle_digest=request.payload["bundle_digest"]
        )


def _new_version_diff(request):
    version = AgentVersion.objects.filter(pk=request.payload["version_id"]).first()
    deployed = request.agent.deployed_version
    rows = [
        DiffRow("Version state", version.get_state_display() if version else "—", "Approved"),
        DiffRow(
            "Model",
            f"{deployed.model_provider} / {deployed.model_name}" if deployed else "—",
            f"{version.model_provider} / {version.model_name}" if version else "—",
        ),
        DiffRow(
            "Prompt hash", deployed.prompt_ref[:12] if deployed else "—", version.prompt_ref[:12] if version else "—"
        ),
        DiffRow(
            "Tools",
            ", ".join(g.tool.name for g in deployed.grants.select_related("tool")) if deployed else "—",
            ", ".join(g.tool.name for g in version.grants.select_related("tool")) if version else "—",
        ),
        DiffRow(
            "Bundle digest", deployed.bundle_digest[:12] if deployed else "—", request.payload["bundle_digest"][:12]
        ),
    ]
    return rows


# --- go_live ----------------------------------------------------------------------------------


def _go_live_normalize(agent, payload, version):
    _reject_unknown(payload, {"version", "version_id", "label", "bundle_digest"})
    version = _version_from(agent, payload, version)
    if version.state == VersionState.DEPLOYED:
        raise ValidationError({"version": f"Version {version.label} is already deployed."})
    if version.state not in PROMOTABLE_VERSION_STATES:
        raise ValidationError(
            {
                "version": f"Version {version.label} is {version.get_state_display().lower()}; only approved versions "
                "may go live. Propose it as a new version first."
            }
        )
    if agent.status == AgentStatus.RETIRED:
        raise ValidationError({"agent": f"{agent.name} is retired."})
    return _version_payload(version), version


def _go_live_apply(request, actor):
    with _blocked_on_conflict():
        registry_services.version_deploy(
            version_id=request.payload["version_id"], bundle_digest=request.payload["bundle_digest"], actor=actor
        )


def _go_live_diff(request):
    agent = request.agent
    return [
        DiffRow("Deployed version", _deployed_label(agent), request.payload["label"]),
        DiffRow("Status", agent.get_status_display(), AgentStatus.PRODUCTION.label),
        DiffRow(
            "First go-live",
            agent.deployed_at.strftime("%Y-%m-%d") if agent.deployed_at else "never",
            agent.deployed_at.strftime("%Y-%m-%d") if agent.deployed_at else "on apply",
        ),
    ]


# --- tool_grant -------------------------------------------------------------------------------


def _tool_grant_normalize(agent, payload, version):
    _reject_unknown(payload, {"tool", "constraints", "base_version_id", "base_label", "base_digest", "new_label"})
    name = payload.get("tool")
    if not name or not isinstance(name, str):
        raise ValidationError({"tool": "Name the tool to grant, for example payments.refund."})
    tool = Tool.objects.filter(name=name).first()
    if tool is None:
        raise ValidationError({"tool": f"No tool named {name!r} in the catalog."})
    constraints = payload.get("constraints") or {}
    if not isinstance(constraints, dict):
        raise ValidationError({"constraints": "Constraints must be a JSON object."})
    if len(json.dumps(constraints)) > MAX_CONSTRAINTS_CHARS:
        raise ValidationError(
            {"constraints": f"Constraints are limited to {MAX_CONSTRAINTS_CHARS} characters of JSON."}
        )
    # Typed: only the constraints the tool declares, with values of their type; the action gate
    # enforces exactly these (registry.grant_constraints).
    constraints_validate(tool_name=tool.name, schema=tool.constraint_schema, constraints=constraints)
    base = agent.deployed_version
    if base is None:
        raise ValidationError(
            {"tool": f"{agent.name} has no deployed version; add the tool to a draft version and propose that instead."}
        )
    if base.grants.filter(tool=tool).exists():
        raise ValidationError({"tool": f"Version {base.label} already has {tool.name}."})
    return (
        {
            "tool": tool.name,
            "constraints": constraints,
            "base_version_id": base.pk,
            "base_label": base.label,
            "base_digest": base.bundle_digest,
            "new_label": registry_services.version_grant_label(agent=agent, base_label=base.label),
        },
        base,
    )


def _tool_grant_apply(request, actor):
    """Deployed versions are frozen, so a grant is applied as a new version, deployed at once
    (``registry.services.version_deploy_with_grant``). The grant was approved under the agent's
    own policy; the new version is what agents report."""
    p = request.payload
    tool = Tool.objects.filter(name=p["tool"]).first()
    if tool is None:
        raise ApplyBlocked(f"Tool {p['tool']} was removed from the catalog.")
    with _blocked_on_conflict():
        registry_services.version_deploy_with_grant(
            base_version_id=p["base_version_id"],
            base_digest=p["base_digest"],
            tool=tool,
            constraints=p["constraints"],
            label=p["new_label"],
            changelog=f"Grants {tool.name} (approval request #{request.pk}).",
            created_by=request.requester,
        )


def _tool_grant_diff(request):
    p = request.payload
    deployed = request.agent.deployed_version
    current = [g.tool.name for g in deployed.grants.select_related("tool")] if deployed else []
    return [
        DiffRow("Deployed version", _deployed_label(request.agent), p["new_label"]),
        DiffRow("Tools", ", ".join(current) or "none", ", ".join(sorted({*current, p["tool"]}))),
        DiffRow(
            f"Constraints on {p['tool']}", "not granted", json.dumps(p["constraints"]) if p["constraints"] else "none"
        ),
    ]


# --- rollout_step -----------------------------------------------------------------------------


def _rollout_normalize(agent, payload, version):
    _reject_unknown(payload, {"version", "version_id", "label", "bundle_digest", "share_pct"})
    version = _version_from(agent, payload, version)
    if version.state != VersionState.APPROVED:
        raise ValidationError(
            {"version": f"Version {version.label} is {version.get_state_display().lower()}; a canary must be approved."}
        )
    raw = payload.get("share_pct")
    try:
        share = Decimal(str(raw)).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({"share_pct": "Give the canary's traffic share as a number from 0 to 100."}) from None
    if raw is None or isinstance(raw, bool) or not (Decimal("0") <= share <= Decimal("100")):
        raise ValidationError({"share_pct": "Give the canary's traffic share as a number from 0 to 100."})
    return {**_version_payload(version), "share_pct": str(share)}, version


def _rollout_apply(request, actor):
    with _blocked_on_conflict():
        registry_services.canary_set(
            agent_id=request.agent_id,
            version_id=request.payload["version_id"],
            bundle_digest=request.payload["bundle_digest"],
            share_pct=Decimal(request.payload["share_pct"]),
            actor=actor,
        )


def _rollout_diff(request):
    agent = request.agent
    now = f"{agent.canary_version.label} at {agent.canary_share_pct} %" if agent.canary_version else "none"
    share = Decimal(request.payload["share_pct"])
    return [DiffRow("Canary", now, f"{request.payload['label']} at {share} %" if share > 0 else "none")]


# --- retirement -------------------------------------------------------------------------------


def _retirement_normalize(agent, payload, version):
    _reject_unknown(payload, {"status", "side_effects_enabled"})
    if agent.status == AgentStatus.RETIRED:
        raise ValidationError({"agent": f"{agent.name} is already retired."})
    return {"status": AgentStatus.RETIRED.value, "side_effects_enabled": False}, None


def _retirement_apply(request, actor):
    registry_services.agent_retire(agent_id=request.agent_id, actor=actor)


def _retirement_diff(request):
    agent = request.agent
    return [
        DiffRow("Status", agent.get_status_display(), AgentStatus.RETIRED.label),
        DiffRow("Side effects", "enabled" if agent.side_effects_enabled else "disabled", "disabled"),
    ]


# --- reenable_side_effects --------------------------------------------------------------------


def _reenable_normalize(agent, payload, version):
    _reject_unknown(payload, {"side_effects_enabled"})
    if agent.side_effects_enabled:
        raise ValidationError({"agent": f"Side effects of {agent.name} are already enabled."})
    if agent.status == AgentStatus.RETIRED:
        raise ValidationError({"agent": f"{agent.name} is retired."})
    return {"side_effects_enabled": True}, None


def _reenable_apply(request, actor):
    registry_services.agent_controls_update(agent_id=request.agent_id, actor=actor, side_effects_enabled=True)


def _reenable_diff(request):
    return [DiffRow("Side effects", "enabled" if request.agent.side_effects_enabled else "disabled", "enabled")]


# --- tier_change ------------------------------------------------------------------------------


def _tier_normalize(agent, payload, version):
    _reject_unknown(payload, {"risk_tier", "from_tier"})
    raw = payload.get("risk_tier")
    # A whole number or its digits (forms post strings); int() would turn 1.5 into 1 and true into 1.
    if type(raw) is int:
        tier = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        tier = int(raw)
    else:
        tier = None
    if tier not in RiskTier.values:
        raise ValidationError({"risk_tier": "Give the new risk tier: 1, 2 or 3."})
    if tier == agent.risk_tier:
        raise ValidationError({"risk_tier": f"{agent.name} is already tier {tier}."})
    return {"risk_tier": tier, "from_tier": int(agent.risk_tier)}, None


def _tier_apply(request, actor):
    with _blocked_on_conflict():
        registry_services.agent_set_tier(
            agent_id=request.agent_id, risk_tier=request.payload["risk_tier"], from_tier=request.payload["from_tier"]
        )


def _tier_diff(request):
    return [DiffRow("Risk tier", f"Tier {request.agent.risk_tier}", f"Tier {request.payload['risk_tier']}")]


def _tier_policy_tier(agent, payload) -> int:
    # Lowering the bar needs the approvals of the stricter tier, not of the one being moved to.
    return min(int(agent.risk_tier), int(payload["risk_tier"]))


for _spec in (
    KindSpec(
        RequestKind.NEW_VERSION.value,
        RequestKind.NEW_VERSION.label,
        _new_version_normalize,
        _new_version_apply,
        _new_version_diff,
        form_fields=kind_forms.new_version_fields,
        has_checklist=True,
        on_create=_new_version_on_create,
        on_abandon=_new_version_on_abandon,
    ),
    KindSpec(
        RequestKind.GO_LIVE.value,
        RequestKind.GO_LIVE.label,
        _go_live_normalize,
        _go_live_apply,
        _go_live_diff,
        form_fields=kind_forms.go_live_fields,
        has_checklist=True,
    ),
    KindSpec(
        RequestKind.TOOL_GRANT.value,
        RequestKind.TOOL_GRANT.label,
        _tool_grant_normalize,
        _tool_grant_apply,
        _tool_grant_diff,
        form_fields=kind_forms.tool_grant_fields,
    ),
    KindSpec(
        RequestKind.ROLLOUT_STEP.value,
        RequestKind.ROLLOUT_STEP.label,
        _rollout_normalize,
        _rollout_apply,
        _rollout_diff,
        form_fields=kind_forms.rollout_step_fields,
    ),
    KindSpec(
        RequestKind.RETIREMENT.value,
        RequestKind.RETIREMENT.label,
        _retirement_normalize,
        _retirement_apply,
        _retirement_diff,
    ),
    KindSpec(
        RequestKind.REENABLE_SIDE_EFFECTS.value,
        RequestKind.REENABLE_SIDE_EFFECTS.label,
        _reenable_normalize,
        _reenable_apply,
        _reenable_diff,
        # Turning side effects back on after a kill switch always takes two people, whatever the tier.
        min_approvals=2,
        lowers_control=True,
        request_perms=("change_agent", "operate_agent"),
    ),
    KindSpec(
        RequestKind.TIER_CHANGE.value,
        RequestKind.TIER_CHANGE.label,
        _tier_normalize,
        _tier_apply,
        _tier_diff,
        form_fields=kind_forms.tier_change_fields,
        policy_tier=_tier_policy_tier,
        # Lowering a tier lowers every later bar (reviews, approvals): two people, whichever way.
        min_approvals=2,
        lowers_control=True,
    ),
):
    register_kind(_spec)


# --- status_change and scope_change: the governed fields of registry.governance ------------------
# The registry declares which agent fields are governed and which kind changes each; these two
# kinds carry the lifecycle status and the scope fields (owner team, owner, sponsor, data
# classification, data sources and systems, thresholds, budget). Both can weaken a control, so
# both need two people.

# Moves a status change may make; going live (a deployed version) and retiring have their own kinds.
STATUS_CHANGE_TARGETS = (AgentStatus.PROPOSED, AgentStatus.PILOT, AgentStatus.PRODUCTION, AgentStatus.PAUSED)


def _status_change_normalize(agent, payload, version):
    _reject_unknown(payload, {"status", "from_status"})
    status = payload.get("status")
    if agent.status == AgentStatus.RETIRED:
        raise ValidationError({"status": f"{agent.name} is retired; a retired agent is not brought back."})
    if status == AgentStatus.RETIRED:
        raise ValidationError({"status": "Retiring has its own request: use Retirement."})
    if status not in STATUS_CHANGE_TARGETS:
        raise ValidationError({"status": "Give the new status: proposed, pilot, production or paused."})
    if status == agent.status:
        raise ValidationError({"status": f"{agent.name} is already {agent.get_status_display().lower()}."})
    if status == AgentStatus.PRODUCTION and agent.deployed_version is None:
        raise ValidationError({"status": f"{agent.name} has no deployed version; request Go live instead."})
    return {"status": str(status), "from_status": str(agent.status)}, None


def _status_change_apply(request, actor):
    with _blocked_on_conflict():
        registry_services.agent_set_status(
            agent_id=request.agent_id,
            status=request.payload["status"],
            from_status=request.payload["from_status"],
            actor=actor,
        )


def _status_change_diff(request):
    return [
        DiffRow("Status", request.agent.get_status_display(), AgentStatus(request.payload["status"]).label),
    ]


def _status_change_fields(agent: Agent) -> dict[str, forms.Field]:
    targets = [(s.value, s.label) for s in STATUS_CHANGE_TARGETS if s != agent.status]
    return {"status": forms.ChoiceField(choices=targets, label="New status")}


def _scope_change_normalize(agent, payload, version):
    """Payload: any of the scope fields with its proposed value (pk, list of pks, text); only
    the ones that differ from today's value are kept, each with the value it changes from."""
    _reject_unknown(payload, set(AGENT_SCOPE_FIELDS))
    changes, errors = {}, {}
    for name in AGENT_SCOPE_FIELDS:
        if name not in payload:
            continue
        try:
            proposed = governed_value_parse(Agent, name, payload[name])
        except ValidationError as exc:
            errors[name] = exc.messages
            continue
        current = governed_value_current(agent, name)
        if proposed != current:
            changes[name] = {"from": current, "to": proposed}
    if errors:
        raise ValidationError(errors)
    if not changes:
        raise ValidationError({"payload": "Nothing would change: every value given is the current one."})
    return {"changes": changes}, None


def _scope_change_apply(request, actor):
    with _blocked_on_conflict():
        for name, change in request.payload["changes"].items():
            registry_services.agent_scope_set(
                agent_id=request.agent_id, field=name, value=change["to"], from_value=change["from"], actor=actor
            )


def _scope_change_diff(request):
    agent = request.agent
    return [
        DiffRow(
            capfirst(Agent._meta.get_field(name).verbose_name),
            governed_value_words(Agent, name, governed_value_current(agent, name)),
            governed_value_words(Agent, name, change["to"]),
        )
        for name, change in request.payload["changes"].items()
    ]


def _scope_form_field(agent: Agent, name: str) -> forms.Field:
    """A request-form field for one scope field, showing today's value; it cleans to text or pks,
    which the kind's normaliser parses as it parses the API's payload."""
    model_field = Agent._meta.get_field(name)
    options = {
        "label": capfirst(model_field.verbose_name),
        "required": False,
        "initial": governed_value_current(agent, name),
    }
    if model_field.is_relation:
        choices = [(obj.pk, str(obj)) for obj in governed_formfield(Agent, name).queryset]
        if model_field.many_to_many:
            return forms.MultipleChoiceField(choices=choices, widget=forms.SelectMultiple, **options)
        return forms.ChoiceField(choices=[("", "—"), *choices], **options)
    if model_field.choices:
        return forms.ChoiceField(choices=model_field.choices, **options)
    if model_field.get_internal_type() == "PositiveIntegerField":  # a step ceiling
        return forms.IntegerField(min_value=0, **options)
    return kind_forms.DecimalTextField(min_value=0, decimal_places=2, **options)


def _scope_change_fields(agent: Agent) -> dict[str, forms.Field]:
    return {name: _scope_form_field(agent, name) for name in AGENT_SCOPE_FIELDS}


for _spec in (
    KindSpec(
        STATUS_CHANGE,
        "Lifecycle status change",
        _status_change_normalize,
        _status_change_apply,
        _status_change_diff,
        form_fields=_status_change_fields,
        min_approvals=2,
        lowers_control=True,
    ),
    KindSpec(
        SCOPE_CHANGE,
        "Scope or accountability change",
        _scope_change_normalize,
        _scope_change_apply,
        _scope_change_diff,
        form_fields=_scope_change_fields,
        min_approvals=2,
        lowers_control=True,
    ),
):
    register_kind(_spec)


# --- tool_tier_change: a catalog tool's action tier (fleet-wide: every agent granted it) ----------


def _tool_tier_normalize(agent, payload, version):
    _reject_unknown(payload, {"tool", "action_tier", "from_tier"})
    if agent is not None:
        raise ValidationError({"agent": "A tool's tier concerns every agent granted it; name no agent."})
    tool = Tool.objects.filter(name=payload.get("tool") or "").first()
    if tool is None:
        raise ValidationError({"tool": "Name a tool of the catalog, for example payments.refund."})
    raw = payload.get("action_tier")
    if isinstance(raw, bool) or str(raw) not in {str(v) for v in ActionTier.values}:
        raise ValidationError({"action_tier": "Give the new action tier: 0, 1, 2, 3 or 4."})
    tier = int(raw)
    if tier == tool.action_tier:
        raise ValidationError({"action_tier": f"{tool.name} is already tier {tier}."})
    return {"tool": tool.name, "action_tier": tier, "from_tier": int(tool.action_tier)}, None


def _tool_tier_apply(request, actor):
    tool = Tool.objects.filter(name=request.payload["tool"]).first()
    if tool is None:
        raise ApplyBlocked(f"Tool {request.payload['tool']} was removed from the catalog.")
    with _blocked_on_conflict():
        registry_services.tool_set_tier(
            tool_id=tool.pk,
            action_tier=request.payload["action_tier"],
            from_tier=request.payload["from_tier"],
            actor=actor,
        )


def _tool_tier_diff(request):
    tool = Tool.objects.filter(name=request.payload["tool"]).first()
    now = ActionTier(tool.action_tier).label if tool else "removed"
    return [DiffRow(f"Action tier of {request.payload['tool']}", now, ActionTier(request.payload["action_tier"]).label)]


register_kind(
    KindSpec(
        TOOL_TIER_CHANGE,
        "Tool action-tier change",
        _tool_tier_normalize,
        _tool_tier_apply,
        _tool_tier_diff,
        min_approvals=2,
        lowers_control=True,
        fleet_wide=True,
        request_perms=("change_tool",),
        # Every agent granted the tool is affected: the strictest tier's policy.
        policy_tier=lambda agent, payload: 1,
    )
)


# --- approval_policy_change: how many people a kind needs (fleet-wide) ----------------------------


def _approval_policy_normalize(agent, payload, version):
    from registry.roles import ALL_ROLES

    _reject_unknown(
        payload, {"kind", "risk_tier", "required_approvals", "eligible_roles", "require_board_outside_team", "note"}
    )
    if agent is not None:
        raise ValidationError({"agent": "An approval policy concerns every agent of its tier; name no agent."})
    kind = payload.get("kind") or ""
    if kind and kind not in _KINDS:
        raise ValidationError({"kind": f"Unknown request kind {kind!r} (blank = the tier's default)."})
    tier, required = payload.get("risk_tier"), payload.get("required_approvals")
    if isinstance(tier, bool) or tier not in RiskTier.values:
        raise ValidationError({"risk_tier": "Give the risk tier: 1, 2 or 3."})
    if isinstance(required, bool) or not isinstance(required, int) or not 1 <= required <= 10:
        raise ValidationError({"required_approvals": "Give the number of approvers, 1 to 10."})
    roles = payload.get("eligible_roles") or []
    if not isinstance(roles, list) or not roles or set(roles) - set(ALL_ROLES):
        raise ValidationError({"eligible_roles": f"Give role names from: {', '.join(ALL_ROLES)}."})
    canonical = {
        "kind": kind,
        "risk_tier": tier,
        "required_approvals": required,
        "eligible_roles": sorted(set(roles)),
        "require_board_outside_team": bool(payload.get("require_board_outside_team")),
        "note": str(payload.get("note") or "")[:300],
    }
    return canonical, None


def _approval_policy_apply(request, actor):
    p = request.payload
    ApprovalPolicy.objects.update_or_create(
        kind=p["kind"],
        risk_tier=p["risk_tier"],
        defaults={
            "required_approvals": p["required_approvals"],
            "eligible_roles": p["eligible_roles"],
            "require_board_outside_team": p["require_board_outside_team"],
            "note": p["note"] or f"Approval request #{request.pk}.",
        },
    )


def _approval_policy_diff(request):
    p = request.payload
    row = ApprovalPolicy.objects.filter(kind=p["kind"], risk_tier=p["risk_tier"]).first()
    what = f"Tier {p['risk_tier']} {p['kind'] or 'default'}"
    return [
        DiffRow(f"{what}: approvers", str(row.required_approvals) if row else "none", str(p["required_approvals"])),
        DiffRow(f"{what}: roles", ", ".join(row.eligible_roles) if row else "none", ", ".join(p["eligible_roles"])),
        DiffRow(
            f"{what}: board member outside the team",
            ("yes" if row.require_board_outside_team else "no") if row else "none",
            "yes" if p["require_board_outside_team"] else "no",
        ),
    ]


register_kind(
    KindSpec(
        APPROVAL_POLICY_CHANGE,
        "Approval-policy change",
        _approval_policy_normalize,
        _approval_policy_apply,
        _approval_policy_diff,
        min_approvals=2,
        lowers_control=True,
        fleet_wide=True,
        request_perms=("approve_agent",),
        eligible_roles=(role_names.GOVERNANCE_BOARD,),
        policy_tier=lambda agent, payload: 1,
    )
)
