"""The runtime action gate: an agent asks before a risky action; a policy answers at once
(allow / deny) or hands the question to people through the approvals engine.

Order of the rules, and why:

1. Bad input is refused first (400) and nothing is stored: unknown tool, a parameter the
   policy does not declare, a required one missing, a value of the wrong type.
2. The kill switch (the agent's or the fleet's) denies every side-effecting action with the
   reason "side effects disabled", whatever the policy says.
3. The grant: the tool must be granted to the version the request runs (the deployed one, or
   the canary when the request names it in ``version``); otherwise denied, naming tool and
   version. The grant's typed constraints (``registry.grant_constraints``) then hold: an amount
   cap, allowed values of a field, and rates per hour / day counted under a PostgreSQL advisory
   lock per (agent, tool), so that web nodes racing each other cannot exceed them. A refusal
   names the constraint.
4. The policy's rules, in order; the first whose condition holds decides.
5. No rule matched: the default of the tool's action tier (0 and 2 allow, 1 one approval,
   3 the two-person rule, 4 approval plus a linked change request).

Idempotent on ``(agent, idempotency_key)``: a replay answers the stored request, a unique
constraint settles two concurrent first posts, and reusing a key for a different action is a
conflict. Fields the policy names for redaction (and anything on the telemetry deny list,
and card numbers anywhere) are replaced before the row is written.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from auditlog.context import disable_auditlog
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from approvals.choices import RequestStatus, Verdict
from approvals.models import ApprovalRequest
from registry import roles as role_names
from registry.audit import acting_as, audit_baseline, audited_save
from registry.audit_chain import chain_append, chain_entry
from registry.budgets import REFUSED_HARD_CAP, hard_cap_reached, spend_charge, spend_charge_statement
from registry.canonical import canonical_json, canonical_sha256
from registry.choices import ActionTier, VersionState
from registry.grant_constraints import constraint_refusal, rate_limits
from registry.models import Agent, AgentVersion, GlobalControls, Tool, ToolGrant
from registry.outbound import OutboundError, guarded_client, validate_outbound_url
from registry.webhook_signing import webhook_secret_new, webhook_standard_headers  # noqa: F401 (re-exported)
from telemetry.redaction import REDACTED, redact_with_keys

from .budgets import at_hard_cap, budget_outcome, ceiling_reason, cost_parse, hard_cap_hit
from .choices import ActionStatus, DecisionSource
from .context import (
    ON_DEMAND_FIELDS,
    context_as_json,
    context_base_names,
    context_columns,
    context_row_read,
    context_values,
    request_context_parse,
)
from .gate_selectors import GateRead, gate_read
from .gate_store import allowed_action_write
from .language import (
    OUTCOME_ALLOW,
    OUTCOME_APPROVAL,
    OUTCOME_DENY,
    PolicySyntaxError,
    fields_parse,
    parameters_coerce,
    rule_predicate,
    rules_context_names,
    rules_parse,
)
from .models import ActionPolicyVersion, ActionRequest, AgentGateSettings

KIND = "runtime_action"
KILL_SWITCH_REASON = "side effects disabled"
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$")
MAX_PARAMETERS_CHARS = 8000
MAX_NOTE = 500
DEFAULT_APPROVER_ROLES = [role_names.APPROVER, role_names.GOVERNANCE_BOARD]


class ActionInputError(Exception):
    """Bad input; nothing was stored. ``errors`` are ``{"code", "field", "message"}`` dicts."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(e["message"] for e in errors))


class ActionConflict(Exception):
    """The idempotency key was used before for a different action."""

    def __init__(self, message: str, existing: ActionRequest):
        self.message = message
        self.existing = existing
        super().__init__(message)


def _error(code: str, field_name: str | None, message: str) -> dict:
    return {"code": code, "field": field_name, "message": message}


# --- policies -------------------------------------------------------------------------------------


def policy_current(*, tool: Tool) -> ActionPolicyVersion | None:
    """The version in force: the highest number."""
    return ActionPolicyVersion.objects.filter(tool=tool).order_by("-number").first()


def tool_locked_for_apply(name: str) -> Tool:
    """The catalog tool an approved policy or shadow change applies to, its row locked for the rest
    of the apply. Refused (``ApplyBlocked``) when the tool left the catalog meanwhile.

    Race: two approved changes to one tool's policy applied at once, each checking that the version
    in force is still the one it was proposed over; without the lock both pass the check and the
    second silently replaces the first. Locking the tool before reading the version in force orders
    them, so the second sees the new version and is refused."""
    from approvals.exceptions import ApplyBlocked

    tool = Tool.objects.select_for_update(no_key=True).filter(name=name).first()
    if tool is None:
        raise ApplyBlocked(f"Tool {name} was removed from the catalog.")
    return tool


def _redact_list(value) -> list[str]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    return list(dict.fromkeys(str(v).strip() for v in (value or []) if str(v).strip()))


def _rules_unknown_roles(rules: list[dict]) -> list[str]:
    """One message per approval rule naming a role (group) that does not exist."""
    named = {r["role"] for r in rules if "role" in r}
    groups = set(Group.objects.filter(name__in=named).values_list("name", flat=True))
    return [
        f"Rules, line {rule['line']}, column {rule['role_col']}: there is no role (group) named {rule['role']!r}."
        for rule in rules
        if rule["outcome"] == OUTCOME_APPROVAL and rule["role"] not in groups
    ]


def _retention_days_parse(raw) -> int:
    """Days from 1 to 3650, or 0 when ``raw`` is not such a number."""
    try:
        days = int(raw)
    except (TypeError, ValueError):
        return 0
    return days if 1 <= days <= 3650 else 0


def policy_validate(
    *, fields_source: str, rules_source: str, redact_fields, retention_days
) -> tuple[dict, list[dict], list[str], int]:
    """Parse and check a policy; a ``ValidationError`` keyed by form field says what is wrong and
    where (line, column, token). Rules may only name declared fields, roles that exist as groups,
    and enum values the field declares; redacted fields must be declared."""
    errors: dict[str, list[str]] = {}
    fields: dict = {}
    rules: list = []
    try:
        fields = fields_parse(fields_source)
        if not fields:
            errors["fields_source"] = ["Declare at least one field, e.g. 'amount_usd: decimal'."]
    except PolicySyntaxError as exc:
        errors["fields_source"] = [f"Fields, {exc.describe()}"]
    if "fields_source" not in errors:
        try:
            rules = rules_parse(rules_source, fields)
        except PolicySyntaxError as exc:
            errors["rules_source"] = [f"Rules, {exc.describe()}"]
        else:
            unknown_roles = _rules_unknown_roles(rules)
            if unknown_roles:
                errors["rules_source"] = unknown_roles
    redact_list = _redact_list(redact_fields)
    if fields:
        unknown = [name for name in redact_list if name not in fields]
        if unknown:
            errors["redact_fields"] = [f"Not declared in the fields: {', '.join(unknown)}."]
    days = _retention_days_parse(retention_days)
    if days == 0:
        errors["retention_days"] = ["Keep requests between 1 and 3650 days."]
    if errors:
        raise ValidationError(errors)
    for rule in rules:
        rule.pop("role_col", None)
        rule.pop("if_col", None)
    return fields, rules, redact_list, days


def policy_version_create(
    *,
    tool: Tool,
    fields_source: str,
    rules_source: str,
    redact_fields=(),
    retention_days: int = 365,
    note: str = "",
    actor=None,
) -> ActionPolicyVersion:
    """Save a policy for ``tool`` as its next version (the first is 1). Earlier versions stay
    as they were: decisions name the version they were made under. The tool row is locked so two
    editors saving at once get consecutive numbers (the unique constraint backs it)."""
    fields, rules, redact_list, days = policy_validate(
        fields_source=fields_source,
        rules_source=rules_source,
        redact_fields=redact_fields,
        retention_days=retention_days,
    )
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": f"Keep the note under {MAX_NOTE} characters."})
    with transaction.atomic(), acting_as(actor):
        Tool.objects.select_for_update(no_key=True).get(pk=tool.pk)
        versions = ActionPolicyVersion.objects.filter(tool=tool).order_by("-number")
        last = versions.values_list("number", flat=True).first()
        return ActionPolicyVersion.objects.create(
            tool=tool,
            number=(last or 0) + 1,
            fields_source=fields_source.strip(),
            fields=fields,
            rules_source=rules_source.strip(),
            rules=rules,
            redact_fields=redact_list,
            retention_days=days,
            note=note,
            created_by=actor,
        )


# --- deciding -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str
    source: str
    reason: str = ""
    rule: dict | None = None
    required_approvals: int | None = None
    roles: list[str] = field(default_factory=list)
    needs_change_request: bool = False

    @property
    def rule_text(self) -> str:
        return self.rule["text"] if self.rule else ""

    @property
    def rule_number(self) -> int | None:
        return self.rule["number"] if self.rule else None


TIER_DEFAULT_TEXT = {
    0: "tier 0 (read-only) default: allow",
    1: "tier 1 (draft) default: one approval",
    2: "tier 2 (low-risk write) default: allow",
    3: "tier 3 (high-risk write) default: two-person rule",
    4: "tier 4 (production control) default: approval plus a linked change request",
}


def side_effects_enabled(agent: Agent, fleet_enabled: bool | None = None) -> bool:
    """The agent's own switch and the fleet's, read fresh (``fleet_enabled`` when the caller
    already read it in the same query; no row yet means never switched off)."""
    if not agent.side_effects_enabled:
        return False
    if fleet_enabled is None:
        fleet_enabled = GlobalControls.load().side_effects_enabled
    return bool(fleet_enabled)


@dataclass
class GateGrant:
    """The version a request runs under and that version's grant of the tool (None: not granted)."""

    version: AgentVersion | None
    grant: ToolGrant | None


def grant_refusal(*, agent: Agent, tool: Tool, gate: GateGrant, values: dict) -> str | None:
    """Why the grant does not cover this action (not granted, or a constraint other than the
    rates broken), naming the tool, version and constraint; ``None`` if it does."""
    if gate.version is None:
        return f"{tool.name} is not granted: {agent.slug} has no deployed version"
    if gate.grant is None:
        return f"{tool.name} is not granted to {agent.slug} version {gate.version.label}"
    refusal = constraint_refusal(
        tool_name=tool.name, schema=tool.constraint_schema, constraints=gate.grant.constraints, values=values
    )
    return f"{refusal} ({tool.name}, {agent.slug} version {gate.version.label})" if refusal else None


def action_decide(
    *,
    agent: Agent,
    tool: Tool,
    policy: ActionPolicyVersion | None,
    values: dict,
    gate: GateGrant | None = None,
) -> Outcome:
    """The decision for already-validated values: kill switch, the grant and its constraints
    (all but the rates, which need a lock: see :func:`_rate_checked`), then the rules in order,
    then the tier default. Pure apart from reading the kill switches. ``gate`` None: the version
    and grant are looked up (the deployed version)."""
    fleet = None
    if policy is not None and "fleet_enabled" in policy.__dict__:  # read with the policy, same query
        fleet = policy.fleet_enabled is not False
    if tool.has_side_effects and not side_effects_enabled(agent, fleet):
        return Outcome(ActionStatus.DENIED, DecisionSource.KILL_SWITCH, reason=KILL_SWITCH_REASON)
    if gate is None:
        gate, _errors = gate_grant(agent=agent, tool=tool, version_label=None)
    refusal = grant_refusal(agent=agent, tool=tool, gate=gate, values=values)
    if refusal:
        # A grant is the agent's standing policy for the tool: the refusal is an automatic block.
        return Outcome(ActionStatus.DENIED, DecisionSource.POLICY_RULE, reason=refusal)
    return policy_outcome(tool=tool, rules=policy.rules if policy else [], values=values)


def policy_outcome(*, tool: Tool, rules: list[dict], values: dict) -> Outcome:
    """What the rules say (first match wins), else the tool's tier default. Pure: the part of a
    decision that a policy change moves, so a proposed policy is compared on the same code."""
    for rule in rules:
        if not rule_predicate(rule)(values):  # compiled once per rule text: evaluate()'s answers
            continue
        if rule["outcome"] == OUTCOME_ALLOW:
            return Outcome(ActionStatus.ALLOWED, DecisionSource.POLICY_RULE, rule=rule)
        if rule["outcome"] == OUTCOME_DENY:
            return Outcome(ActionStatus.DENIED, DecisionSource.POLICY_RULE, reason=rule["reason"], rule=rule)
        return Outcome(
            ActionStatus.PENDING,
            DecisionSource.POLICY_RULE,
            rule=rule,
            required_approvals=int(rule["approvals"]),
            roles=[rule["role"]],
            reason=f"needs {rule['approvals']} approval(s) from {rule['role']}",
        )
    tier = int(tool.action_tier)
    text = TIER_DEFAULT_TEXT[tier]
    if tier in (ActionTier.READ_ONLY, ActionTier.LOW_RISK_WRITE):
        return Outcome(ActionStatus.ALLOWED, DecisionSource.TIER_DEFAULT, reason=text)
    required = {ActionTier.DRAFT: 1, ActionTier.HIGH_RISK_WRITE: 2, ActionTier.PRODUCTION_CONTROL: 1}[tier]
    return Outcome(
        ActionStatus.PENDING,
        DecisionSource.TIER_DEFAULT,
        reason=text,
        required_approvals=required,
        roles=list(DEFAULT_APPROVER_ROLES),
        needs_change_request=tier == ActionTier.PRODUCTION_CONTROL,
    )


def gate_grant(*, agent: Agent, tool: Tool, version_label) -> tuple[GateGrant, list[dict]]:
    """The version a request runs under and its grant of ``tool``. No label: the deployed
    version. A label must name the deployed version or the agent's canary (canary traffic says
    so); anything else is bad input."""
    if version_label is None or version_label == "":
        grant = (
            ToolGrant.objects.select_related("version")
            .filter(version__agent=agent, version__state=VersionState.DEPLOYED, tool=tool)
            .first()
        )
        if grant is not None:
            return GateGrant(grant.version, grant), []
        return GateGrant(agent.versions.filter(state=VersionState.DEPLOYED).first(), None), []
    if not isinstance(version_label, str):
        return GateGrant(None, None), [_error("invalid_type", "version", "version: the version label, e.g. 1.4.")]
    version = agent.versions.filter(label=version_label).first()
    if version is None or not (version.state == VersionState.DEPLOYED or version.pk == agent.canary_version_id):
        message = (
            f"version: {version_label[:40]!r} is neither the deployed version nor the canary of {agent.slug}; "
            "leave it out for the deployed version."
        )
        return GateGrant(None, None), [_error("invalid", "version", message)]
    return GateGrant(version, version.grants.filter(tool=tool).first()), []


def _rate_checked(agent: Agent, tool: Tool, gate: GateGrant, outcome: Outcome, now: datetime) -> Outcome:
    """Apply the grant's rates (``max_per_hour``, ``max_per_day``) to an action about to be
    stored. Must run inside the transaction that inserts the action. Race: two web nodes
    counting at once would both see room for one more; a transaction-scoped advisory lock per
    (agent, tool) makes the count and the insert one step, so the next waiter counts the row
    just committed (READ COMMITTED takes a fresh snapshot per statement). Actions allowed,
    pending or approved count; denied and expired ones do not."""
    limits = rate_limits(gate.grant.constraints) if gate.grant is not None else []
    if not limits or outcome.status == ActionStatus.DENIED:
        return outcome
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"quorum.rate:{agent.pk}:{tool.pk}"])
    counted = ActionRequest.objects.filter(
        agent=agent, tool=tool, status__in=[ActionStatus.ALLOWED, ActionStatus.PENDING, ActionStatus.APPROVED]
    )
    for name, limit, window in limits:
        used = counted.filter(created_at__gt=now - window).count()
        if used >= limit:
            reason = (
                f"grant constraint {name}: {limit} {tool.name} action(s) per {window_words(window)} already used "
                f"({agent.slug} version {gate.version.label})"
            )
            return Outcome(ActionStatus.DENIED, DecisionSource.POLICY_RULE, reason=reason)
    return outcome


def window_words(window: timedelta) -> str:
    return "hour" if window <= timedelta(hours=1) else "day"


def parameters_redact(parameters: dict, policy: ActionPolicyVersion | None) -> dict:
    """What may be stored: the policy's redact list and the telemetry deny list replaced by
    ``[redacted]``, card-number-like digits masked anywhere."""
    return redact_with_keys(parameters, policy.redact_fields if policy is not None else ())


@dataclass
class SubmitResult:
    action: ActionRequest | None
    created: bool
    preview: dict | None = None


def _change_request_check(agent: Agent, raw) -> tuple[ApprovalRequest | None, list[dict]]:
    if raw is None or raw == "":
        return None, []
    try:
        pk = int(raw)
        if isinstance(raw, bool) or pk < 1:
            raise ValueError
    except (TypeError, ValueError):
        return None, [_error("invalid", "change_request_id", "change_request_id: the id of a change request.")]
    req = ApprovalRequest.objects.filter(pk=pk, agent=agent).exclude(kind=KIND).first()
    if req is None:
        message = f"change_request_id: {agent.slug} has no change request #{pk}."
        return None, [_error("not_found", "change_request_id", message)]
    if req.status not in (RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.APPLIED):
        return None, [
            _error(
                "invalid",
                "change_request_id",
                f"change_request_id: change request #{pk} is {req.get_status_display().lower()}; link a pending, "
                "approved or applied one.",
            )
        ]
    return req, []


def _gate_read(tool_name, agent: Agent, errors: list[dict], context: list) -> GateRead | None:
    """The named tool with its policy in force, the fleet switch, the running shadow and the
    deployed version's grant, in one query (the hot path of every request); a bad name adds its
    error and answers None. ``context``: the context's columns every request reads, read with it."""
    if not isinstance(tool_name, str) or not tool_name.strip():
        errors.append(_error("required", "tool", "tool: name the tool, e.g. payments.refund."))
        return None
    read = gate_read(tool_name=tool_name.strip(), agent_id=agent.pk, extra=context)
    if read is None:
        message = f"tool: no tool named {tool_name.strip()[:120]!r} in the catalog."
        errors.append(_error("not_found", "tool", message))
    return read


def _gate_for(read: GateRead | None, agent: Agent, version_label, errors: list[dict]) -> GateGrant:
    """The version the request runs and its grant: the deployed one as read with the tool, or
    the labelled one (:func:`gate_grant`; a bad label adds its error)."""
    if read is None:
        return GateGrant(None, None)
    if version_label is None or version_label == "":
        return GateGrant(read.deployed, read.deployed_grant)
    gate, version_errors = gate_grant(agent=agent, tool=read.tool, version_label=version_label)
    errors.extend(version_errors)
    return gate


def context_names_read(*, policy: ActionPolicyVersion | None, shadow_rules: list | None) -> frozenset:
    """The context fields the rules read: the policy's and the running shadow's (the budget checks
    read only fields computed for every request). The gate computes the costly fields
    (``actions.context.ON_DEMAND_FIELDS``) only when named here; the rest it reads for every
    request."""
    names: frozenset = frozenset()
    if policy is not None:
        names |= rules_context_names(policy.rules)
    if shadow_rules:
        names |= rules_context_names(shadow_rules)
    return names


def _parameters_checked(parameters, errors: list[dict]) -> dict:
    """The action's parameters as a dict ({} when missing, or when refused with an error)."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        errors.append(_error("invalid_type", "parameters", "parameters: a JSON object of the action's fields."))
        return {}
    if len(canonical_json(parameters)) > MAX_PARAMETERS_CHARS:
        message = f"parameters: at most {MAX_PARAMETERS_CHARS} characters of JSON."
        errors.append(_error("too_long", "parameters", message))
        return {}
    return parameters


def _idempotency_key_errors(idempotency_key) -> list[dict]:
    if idempotency_key is None or idempotency_key == "":
        return [_error("required", "idempotency_key", "idempotency_key: required (unique per action).")]
    if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY_RE.match(idempotency_key):
        message = "idempotency_key: 1 to 100 characters: letters, digits and . _ : - (starting with a letter or digit)."
        return [_error("invalid", "idempotency_key", message)]
    return []


def action_request_submit(
    *,
    agent: Agent,
    tool_name,
    parameters,
    idempotency_key=None,
    dry_run: bool = False,
    change_request_id=None,
    version=None,
    session_id=None,
    on_behalf_of=None,
    cost_usd=None,
    now: datetime | None = None,
) -> SubmitResult:
    """An agent asks to perform an action. See the module docstring for the order of the rules.
    ``session_id``, ``on_behalf_of`` and ``cost_usd`` (optional) feed the context and the budget.

    Returns the stored request (``created`` False for a replay of the same key), or for
    ``dry_run`` a preview of the answer with nothing stored. Raises :class:`ActionInputError`
    (nothing stored) or :class:`ActionConflict` (key reused for another action)."""
    errors: list[dict] = []
    now = now or timezone.now()
    request_context, context_errors = request_context_parse(session_id=session_id, on_behalf_of=on_behalf_of)
    base = context_base_names()
    base_columns = context_columns(agent_id=agent.pk, tool_id=None, request=request_context, now=now, wanted=base)
    read = _gate_read(tool_name, agent, errors, base_columns)
    tool, policy = (read.tool, read.policy) if read is not None else (None, None)
    parameters = _parameters_checked(parameters, errors)
    if not dry_run:
        errors.extend(_idempotency_key_errors(idempotency_key))
    change_request, cr_errors = _change_request_check(agent, change_request_id)
    errors.extend(cr_errors)
    cost, cost_errors = cost_parse(cost_usd)
    errors.extend(context_errors + cost_errors)
    gate = _gate_for(read, agent, version, errors)
    values: dict = {}
    if policy is not None and isinstance(parameters, dict):
        values, field_errors = parameters_coerce(policy.fields, parameters)
        errors.extend(_error(e.code, f"parameters.{e.field}", e.message) for e in field_errors)
    if errors:
        raise ActionInputError(errors)

    stored_parameters = parameters_redact(parameters, policy)
    link = change_request.pk if change_request else None
    fingerprint = canonical_sha256({"tool": tool.name, "parameters": stored_parameters, "change_request": link})
    canary = gate.version is not None and gate.version.pk == agent.canary_version_id
    request_context = replace(request_context, canary=canary)
    # The fields only some rules read (counts over recent requests) cost a second query, when read.
    on_demand = context_names_read(policy=policy, shadow_rules=read.shadow_rules) & ON_DEMAND_FIELDS
    row = {
        **read.extra,
        **context_row_read(
            context_columns(agent_id=agent.pk, tool_id=tool.pk, request=request_context, now=now, wanted=on_demand)
        ),
    }
    context = context_values(agent=agent, row=row, wanted=base | on_demand, request=request_context, now=now)
    # The context rides in the same dict as the parameters (keys "context.<name>"): the rules, a
    # shadow policy and a backtest read one dict.
    values = {**(values if policy is not None else parameters), **context}
    outcome = action_decide(agent=agent, tool=tool, policy=policy, values=values, gate=gate)
    outcome = budget_outcome(agent=agent, tool=tool, values=values, outcome=outcome)
    if outcome.needs_change_request and change_request is None:
        raise ActionInputError(
            [
                _error(
                    "change_request_required",
                    "change_request_id",
                    f"change_request_id: {tool.name} is a tier-4 production control; link the pending or applied "
                    "change request it belongs to.",
                )
            ]
        )
    if dry_run:
        with transaction.atomic():  # the rate lock is held only for this preview's count
            outcome = _rate_checked(agent, tool, gate, outcome, now)
        return SubmitResult(None, created=False, preview=_preview(tool, policy, outcome, stored_parameters, now))
    if outcome.needs_change_request or outcome.status == ActionStatus.PENDING:
        # Asking people costs an approval request: answer a replay before making one.
        existing = ActionRequest.objects.filter(agent=agent, idempotency_key=idempotency_key).first()
        if existing is not None:
            return SubmitResult(_replay(existing, fingerprint), created=False)

    pending = outcome.status == ActionStatus.PENDING
    rated = gate.grant is not None and bool(rate_limits(gate.grant.constraints))
    # An automatic denial is one INSERT: autocommit is atomic enough (and saves two round trips
    # on the hot path); inside a caller's transaction a savepoint keeps a lost race recoverable.
    # A rate-limited grant needs the transaction: its lock must cover the count and the insert; an
    # action that goes ahead is charged to the budget in the same transaction as its insert (a
    # replay that loses the key race rolls its charge back).
    atomic = pending or rated or connection.in_atomic_block or outcome.status != ActionStatus.DENIED
    try:
        # The common case, in one round trip; a charge refused there wrote nothing, and the
        # general path below decides again with what it finds.
        row = (stored_parameters, idempotency_key, fingerprint, change_request)  # the row's own fields
        action = _allowed_written(agent, tool, policy, gate, outcome, values, cost, request_context, row, now, rated)
        if action is None:
            with transaction.atomic() if atomic else nullcontext():
                outcome = _rate_checked(agent, tool, gate, outcome, now)
                outcome = _budget_charged(agent, tool, outcome, values, cost, request_context, now)
                snapshot = _snapshot(agent, tool, policy, gate, outcome, values, cost, now)
                action = _create(agent, tool, policy, outcome, row, now, snapshot)
    except IntegrityError:
        # The key is taken: a replay, or a concurrent post that won the race. Answer what it stored.
        existing = ActionRequest.objects.filter(agent=agent, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return SubmitResult(_replay(existing, fingerprint), created=False)
    # Issue 18: a running shadow policy records what it would have decided on the same values
    # (never applied; its failures are its own). Imported here: shadow builds on this module.
    if read.shadow_id is not None:  # read with the tool: no shadow, no query
        from .shadow import shadow_evaluate

        shadow_evaluate(action=action, tool=tool, values=values, shadow=(read.shadow_id, read.shadow_rules))
    return SubmitResult(action, created=True)


def _allowed_written(
    agent, tool, policy, gate, outcome: Outcome, values: dict, cost, request_context, row_fields: tuple, now, rated
) -> ActionRequest | None:
    """An allowed action's charge, row and audit entry in one statement (``actions/gate_store.py``):
    the stored row; None, with nothing written, when the charge was refused, or when the action
    is not simply allowed, its grant has rates (their count needs the general path's lock) or the
    month's hard cap was reached (the general path decides those)."""
    if outcome.status != ActionStatus.ALLOWED or rated or hard_cap_hit(agent=agent, values=values):
        return None
    snapshot = _snapshot(agent, tool, policy, gate, outcome, values, cost, now)
    row = _action_row(agent, tool, policy, outcome, *row_fields, now, snapshot)
    charge = allowed_action_write(
        action=row,
        entry=chain_entry(**_gate_decision_entry(row, agent, tool, policy, outcome)),
        charge=spend_charge_statement(agent=agent, cost_usd=cost, session_id=request_context.session_id, now=now),
    )
    return row if charge.charged else None


def _snapshot(agent, tool, policy, gate, outcome: Outcome, values: dict, cost, now) -> dict:
    """The decision's snapshot with the context it was decided on and the declared cost."""
    snapshot = decision_snapshot(agent=agent, tool=tool, policy=policy, gate=gate, outcome=outcome, now=now)
    snapshot["context"] = context_as_json(values)
    snapshot["cost_usd"] = str(cost)
    return snapshot


def _budget_charged(agent, tool, outcome: Outcome, values: dict, cost, request_context, now) -> Outcome:
    """Charge an action that goes ahead to the agent's month, day and session (one atomic upsert,
    refused once the hard cap is reached: see ``registry/budgets.py``). At the cap, as read by the
    context or found by the charge, the configured action applies, and the one request that
    records the breach applies its effects (kill switch, incident, alert)."""
    at_cap = hard_cap_hit(agent=agent, values=values)
    month_usd = values.get("context.spend_month_usd")
    if outcome.status != ActionStatus.DENIED and not at_cap:
        charge = spend_charge(agent=agent, cost_usd=cost, session_id=request_context.session_id, now=now)
        if charge.charged:
            return outcome
        if charge.refused != REFUSED_HARD_CAP:
            # Another request took the session or the day to its ceiling after our context was read.
            reason = ceiling_reason(agent=agent, refused=charge.refused)
            return Outcome(ActionStatus.DENIED, DecisionSource.BUDGET, reason=reason)
        # Another request took the month to the cap after our context was read.
        at_cap, month_usd = True, charge.month_usd
        outcome = at_hard_cap(agent=agent, tool=tool, outcome=outcome)
    if at_cap:
        hard_cap_reached(agent=agent, spend_usd=month_usd, now=now)
    return outcome


def _replay(existing: ActionRequest, fingerprint: str) -> ActionRequest:
    if existing.fingerprint != fingerprint:
        raise ActionConflict(
            f"idempotency_key was already used for another action ({existing.tool.name}, "
            f"{existing.created_at:%Y-%m-%d %H:%M} UTC); use a new key for a new action.",
            existing,
        )
    return existing


def decision_snapshot(
    *, agent: Agent, tool: Tool, policy: ActionPolicyVersion | None, gate: GateGrant, outcome: Outcome, now: datetime
) -> dict:
    """The facts the gate decided on, frozen with the decision (the "why was this allowed?" page
    shows them as recorded): both kill switches as read for this request, the version it ran
    under with its bundle digest, the grant's constraints and what their check said. Costs no
    query: the fleet switch came with the policy (``fleet_enabled``), the rest is in hand."""
    fleet = None  # not read by the gate
    if policy is not None and "fleet_enabled" in policy.__dict__:
        fleet = policy.fleet_enabled is not False  # no row yet: never switched off
    elif tool.has_side_effects and outcome.source != DecisionSource.KILL_SWITCH:
        fleet = True  # the gate read it (side effects) and did not stop there
    version = gate.version
    grant = gate.grant
    if outcome.source == DecisionSource.KILL_SWITCH:
        grant_check = "not checked: the kill switch decided first"
    elif _grant_refused(outcome):
        grant_check = "refused: " + outcome.reason
    else:
        grant_check = "passed"
    return {
        "recorded_at": now.isoformat(),
        "kill_switch": {
            "tool_has_side_effects": tool.has_side_effects,
            "agent_side_effects_enabled": agent.side_effects_enabled,
            "fleet_side_effects_enabled": fleet,
        },
        "version": {"label": version.label, "bundle_digest": version.bundle_digest} if version else None,
        "grant": {"id": grant.pk, "constraints": grant.constraints} if grant else None,
        "grant_check": grant_check[:500],
        "outcome": {"status": outcome.status, "source": outcome.source, "reason": outcome.reason[:500]},
    }


def _grant_refused(outcome: Outcome) -> bool:
    """A denial that came from the grant (a constraint or a rate), not from a rule or the switch."""
    return (
        outcome.status == ActionStatus.DENIED
        and outcome.source == DecisionSource.POLICY_RULE
        and outcome.rule is None
        and ("grant constraint" in outcome.reason or "is not granted" in outcome.reason)
    )


def _create(agent, tool, policy, outcome: Outcome, row_fields: tuple, now, snapshot):
    """Store the request as decided (``row_fields``: stored parameters, key, fingerprint, change
    request), chain its decision, and for a pending one open its approval request."""
    pending = outcome.status == ActionStatus.PENDING
    action = _action_row(agent, tool, policy, outcome, *row_fields, now, snapshot)
    # The row is the record of this decision; it is not audited again on insert (later changes,
    # pending -> approved / denied / expired, are). The approval request has its own audit trail.
    with disable_auditlog():
        action.save(force_insert=True)
    chain_append(**_gate_decision_entry(action, agent, tool, policy, outcome))
    if pending:
        from approvals.services import request_create

        rule = outcome.rule_text or outcome.reason
        where = f"{tool.name} policy v{policy.number}" if policy else f"{tool.name} (no policy)"
        approval = request_create(
            agent=agent,
            kind=KIND,
            payload={
                "action_request": str(action.pk),
                "tool": tool.name,
                "parameters": action.parameters,
                "rule": rule,
                "policy_version": policy.number if policy else None,
                "change_request": action.change_request_id,
            },
            requester=None,
            justification=f"{agent.name} asks to run {tool.name}; {where}: {rule}.",
            policy={
                "required_approvals": outcome.required_approvals,
                "eligible_roles": outcome.roles,
                "board_outside_team": False,
                "checklist": [],
                "action_rule": rule,
            },
            expires_at=action.expires_at,
        )
        action.approval_request = approval
        action.save(update_fields=["approval_request"])
    return action


GATE_ACTIONS = {ActionStatus.ALLOWED: "gate.allow", ActionStatus.DENIED: "gate.deny", ActionStatus.PENDING: "gate.ask"}


def _action_row(
    agent, tool, policy, outcome: Outcome, stored_parameters, key, fingerprint, change_request, now, snapshot
) -> ActionRequest:
    """The request's row as the gate decided it, not yet saved."""
    pending = outcome.status == ActionStatus.PENDING
    return ActionRequest(
        agent=agent,
        tool=tool,
        idempotency_key=key,
        fingerprint=fingerprint,
        parameters=stored_parameters,
        status=outcome.status,
        source=outcome.source,
        policy_version=policy,
        rule_number=outcome.rule_number,
        rule_text=outcome.rule_text[:500],
        reason=outcome.reason[:500],
        required_approvals=outcome.required_approvals,
        approver_role=", ".join(outcome.roles)[:150],
        change_request=change_request,
        expires_at=now + settings.ACTIONS_PENDING_TTL if pending else None,
        decided_at=None if pending else now,
        decision_snapshot=snapshot,
    )


def _gate_decision_entry(action: ActionRequest, agent: Agent, tool: Tool, policy, outcome: Outcome) -> dict:
    """The gate's decision as an audit chain entry (issue 15): the agent asked, the policy answered."""
    return {
        "action": GATE_ACTIONS.get(outcome.status, f"gate.{outcome.status}"),
        "actor": agent,
        "agent": agent,
        "obj": action,
        "summary": f"{agent.slug} asked to run {tool.name}: {outcome.status} ({outcome.source}) {outcome.reason}"[:500],
        "payload": {
            "tool": tool.name,
            "status": outcome.status,
            "source": outcome.source,
            "policy_version": policy.number if policy else None,
            "rule_number": outcome.rule_number,
            "rule_text": outcome.rule_text,
            "reason": outcome.reason,
            "required_approvals": outcome.required_approvals,
            "fingerprint": action.fingerprint,
            "parameters": action.parameters,
        },
    }


def _preview(tool, policy, outcome: Outcome, stored_parameters, now) -> dict:
    pending = outcome.status == ActionStatus.PENDING
    return {
        "id": None,
        "status": outcome.status,
        "dry_run": True,
        "tool": tool.name,
        "parameters": stored_parameters,
        "decision": {
            "source": outcome.source,
            "policy_version": policy.number if policy else None,
            "rule": {"number": outcome.rule_number, "text": outcome.rule_text} if outcome.rule else None,
            "reason": outcome.reason,
        },
        "approval": {
            "required_approvals": outcome.required_approvals,
            "roles": outcome.roles,
            "approvals": 0,
            "blocked_reason": "",
        }
        if pending
        else None,
        "created_at": None,
        "decided_at": None if pending else now,
        "expires_at": now + settings.ACTIONS_PENDING_TTL if pending else None,
    }


# --- reading the current state -------------------------------------------------------------------


def action_effective_status(action: ActionRequest, now: datetime | None = None) -> str:
    """What the agent is told. A pending request past its expiry *is* expired even before the
    expiry task has closed it: the engine refuses every decision after ``expires_at`` (under
    the request's row lock), so nothing can turn it into an approval any more."""
    if action.status == ActionStatus.PENDING and action.expires_at <= (now or timezone.now()):
        return ActionStatus.EXPIRED
    return action.status


# --- people decided (called by the approvals engine, inside its transaction) -----------------------


def action_mark_approved(*, approval_request: ApprovalRequest) -> ActionRequest | None:
    """Enough approvers said yes: the action may go ahead. Refused (``ApplyBlocked``) while the
    kill switch is pulled — the request then stays approved-but-blocked until it expires."""
    from approvals.exceptions import ApplyBlocked

    action = (
        ActionRequest.objects.select_for_update()
        .select_related("tool", "agent")
        .filter(approval_request=approval_request)
        .first()
    )
    if action is None or action.status != ActionStatus.PENDING:
        return action
    audit_baseline(action)  # as locked just above: _finish's auditlog entry diffs against it
    # action.agent was read (and locked: FOR UPDATE covers select_related's tables) just above;
    # the fleet switch is the one the engine just recorded for this apply (apply_snapshot).
    fleet = ((approval_request.apply_snapshot or {}).get("kill_switch") or {}).get("fleet_side_effects_enabled")
    if action.tool.has_side_effects and not side_effects_enabled(action.agent, fleet):
        raise ApplyBlocked(
            f"Side effects of {action.agent.name} are disabled; the action stays blocked until they are re-enabled "
            "or the request expires."
        )
    _finish(action, ActionStatus.APPROVED, DecisionSource.PEOPLE, "")
    return action


def action_mark_closed(*, approval_request: ApprovalRequest) -> ActionRequest | None:
    """The approval request closed without approval: denied by a person, expired, withdrawn."""
    action = ActionRequest.objects.select_for_update().filter(approval_request=approval_request).first()
    if action is None or action.status != ActionStatus.PENDING:
        return action
    audit_baseline(action)  # as locked just above: _finish's auditlog entry diffs against it
    if approval_request.status == RequestStatus.EXPIRED:
        _finish(action, ActionStatus.EXPIRED, DecisionSource.EXPIRY, "no decision before the request expired")
    else:
        denial = approval_request.decisions.filter(verdict=Verdict.DENY).select_related("approver").last()
        reason = f"denied by an approver: {denial.reason}" if denial else "the approval request was closed"
        _finish(action, ActionStatus.DENIED, DecisionSource.PEOPLE, reason)
    return action


def _finish(action: ActionRequest, status: str, source: str, reason: str) -> None:
    action.status = status
    action.source = source
    if reason:
        action.reason = reason[:500]
    action.decided_at = timezone.now()
    audited_save(action, update_fields=["status", "source", "reason", "decided_at"])
    action_id = action.pk
    transaction.on_commit(lambda: _enqueue_webhook(action_id))


def _enqueue_webhook(action_id) -> None:
    if not AgentGateSettings.objects.filter(agent__action_requests=action_id).exclude(webhook_url="").exists():
        return
    from .tasks import deliver_action_webhook

    deliver_action_webhook.delay(action_request_id=str(action_id))


# --- webhook --------------------------------------------------------------------------------------


class WebhookRetryable(Exception):
    """The receiver answered 5xx, 408 or 429: worth trying again later."""


def gate_settings_update(
    *, agent: Agent, webhook_url: str, rotate_secret: bool = False, actor=None
) -> AgentGateSettings:
    """Set (or clear) an agent's webhook URL. A secret is made the first time a URL is set, and
    again when asked to rotate; it is shown to people who may edit the agent.

    A URL Quorum would not call (an internal address, see :mod:`registry.outbound`) is refused
    with a ``ValidationError`` keyed ``webhook_url``, and nothing changes."""
    url = (webhook_url or "").strip()
    try:
        validate_outbound_url(url)
    except ValidationError as exc:
        raise ValidationError({"webhook_url": exc.messages}) from None
    with transaction.atomic(), acting_as(actor):
        gate, _ = AgentGateSettings.objects.select_for_update().get_or_create(agent=agent)
        gate.webhook_url = url
        if gate.webhook_url and (rotate_secret or not gate.webhook_secret):
            gate.webhook_secret = webhook_secret_new()
        gate.save()
    return gate


def webhook_signature(secret: str, body: bytes) -> str:
    """The legacy ``X-Quorum-Signature`` value: HMAC-SHA256 of the body keyed with the secret
    string as shown. Sent next to the Standard Webhooks headers for one release (until 0.3)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(action: ActionRequest) -> bytes:
    from .selectors import action_request_as_dict

    payload = {"event": "action_request.decided", "action_request": action_request_as_dict(action)}
    return canonical_json(payload).encode()


def webhook_deliver(*, action_request_id) -> str:
    """POST the decided request to the agent's webhook, signed the Standard Webhooks way
    (:func:`webhook_standard_headers`) and, for one more release, with the legacy
    ``X-Quorum-Signature: sha256=<hex>`` of the body. Delivered once: a request already delivered is
    skipped, and the delivery id header (the request id) lets a receiver drop a duplicate a
    redelivered task might still cause. Raises on failures worth retrying. Sent through the
    outbound guard: a URL that is (or now resolves to) an internal address is never called, and
    that refusal is recorded, not retried."""
    import httpx

    qs = ActionRequest.objects.select_related("agent", "tool", "policy_version")
    action = qs.filter(pk=action_request_id).first()
    if action is None or action.webhook_delivered_at is not None or action.status == ActionStatus.PENDING:
        return "skipped"
    gate = AgentGateSettings.objects.filter(agent_id=action.agent_id).first()
    if gate is None or not gate.webhook_url:
        return "no webhook"
    body = webhook_body(action)
    ActionRequest.objects.filter(pk=action.pk).update(webhook_attempts=action.webhook_attempts + 1)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Quorum-Webhook/1",
        "X-Quorum-Event": "action_request.decided",
        "X-Quorum-Delivery": str(action.pk),
        **webhook_standard_headers(gate.webhook_secret, str(action.pk), body),
        # Legacy signature, still sent for one release: receivers move to the headers above.
        "X-Quorum-Signature": webhook_signature(gate.webhook_secret, body),
    }
    try:
        with guarded_client(timeout=settings.ACTIONS_WEBHOOK_TIMEOUT_SECONDS) as client:
            response = client.post(gate.webhook_url, content=body, headers=headers)
    except OutboundError as exc:
        ActionRequest.objects.filter(pk=action.pk).update(webhook_last_error=f"refused: {exc}"[:500])
        return "refused"
    except httpx.TransportError as exc:
        ActionRequest.objects.filter(pk=action.pk).update(webhook_last_error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    if 200 <= response.status_code < 300:
        ActionRequest.objects.filter(pk=action.pk, webhook_delivered_at__isnull=True).update(
            webhook_delivered_at=timezone.now(), webhook_last_error=""
        )
        return "delivered"
    message = f"HTTP {response.status_code}"
    ActionRequest.objects.filter(pk=action.pk).update(webhook_last_error=message)
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise WebhookRetryable(message)
    return "refused"


# --- retention ------------------------------------------------------------------------------------


def parameters_purge_expired(
    *,
    now: datetime | None = None,
    batch: int = 1000,
    max_days: int | None = None,
    exclude_agent_ids: Collection[int] = (),
) -> int:
    """Drop the stored parameters of decided requests older than their policy's retention
    (requests without a policy keep them for ``ACTIONS_DEFAULT_RETENTION_DAYS``), never longer
    than ``max_days`` (the portfolio's retention for action parameters) and never for the agents
    in ``exclude_agent_ids`` (a legal hold). The decision itself (status, rule, policy version)
    stays for the audit trail and the reports. One batch per call; the caller repeats until 0."""
    now = now or timezone.now()
    purged = 0
    qs = ActionRequest.objects.filter(parameters_purged_at__isnull=True).exclude(status=ActionStatus.PENDING)
    if exclude_agent_ids:
        qs = qs.exclude(agent_id__in=list(exclude_agent_ids))
    candidates = (
        qs.select_related("policy_version")
        .order_by("created_at")
        .only("pk", "created_at", "policy_version__retention_days")[: batch * 5]
    )
    default_days = settings.ACTIONS_DEFAULT_RETENTION_DAYS
    ids = []
    for action in candidates:
        days = action.policy_version.retention_days if action.policy_version else default_days
        if max_days is not None:
            days = min(days, max_days)
        if action.created_at + timedelta(days=days) <= now:
            ids.append(action.pk)
        if len(ids) >= batch:
            break
    if ids:
        # One bulk update bypasses auditlog on purpose: the log would otherwise keep the old values.
        purged = ActionRequest.objects.filter(pk__in=ids, parameters_purged_at__isnull=True).update(
            parameters={"_purged": REDACTED}, parameters_purged_at=now
        )
    return purged
