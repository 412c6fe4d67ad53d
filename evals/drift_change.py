"""Weakening a drift policy is a two-person change (issue 13, item 2).

Tightening an agent's drift policy (lower thresholds, a stronger automatic action) saves at
once: it can only page sooner. A change that weakens it — a higher threshold, more samples
before testing, a smaller significance level, turning the policy off, or a weaker automatic
action (kill switch > canary rollback > alert only) — is proposed as a ``drift_policy_change``
request instead; the policy in force stays until two approvers other than the requester agree."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from approvals.kinds import DiffRow, KindSpec
from approvals.models import ApprovalRequest
from approvals.services import change_request_create
from registry.models import Agent
from registry.permissions import user_can_edit_agent

from .choices import DriftAction
from .models import DriftPolicy

DRIFT_POLICY_CHANGE = "drift_policy_change"

# A higher value pages later (or never): weaker.
WEAKER_IF_HIGHER = (
    "containment_drop_points",
    "error_rise_points",
    "escalation_rise_points",
    "cost_rise_pct",
    "latency_rise_pct",
    "outcome_mix_psi",
    "min_samples",
)
# A smaller significance level needs stronger evidence before paging: weaker.
WEAKER_IF_LOWER = ("significance",)
ACTION_STRENGTH = {DriftAction.NONE: 0, DriftAction.CANARY_ROLLBACK: 1, DriftAction.KILL_SWITCH: 2}


def _weakens(name: str, current, value) -> bool:
    if name in WEAKER_IF_HIGHER:
        return Decimal(str(value)) > Decimal(str(current))
    if name in WEAKER_IF_LOWER:
        return Decimal(str(value)) < Decimal(str(current))
    if name == "enabled":
        return bool(current) and not value
    if name == "action":
        return ACTION_STRENGTH.get(value, 0) < ACTION_STRENGTH.get(current, 0)
    return False


def drift_weakenings(policy: DriftPolicy, fields: dict) -> list[str]:
    """The fields of ``fields`` that would weaken ``policy``."""
    return [
        name
        for name, value in fields.items()
        if value is not None and value != getattr(policy, name) and _weakens(name, getattr(policy, name), value)
    ]


def _as_payload(fields: dict) -> dict:
    return {name: (value if isinstance(value, bool | int) else str(value)) for name, value in fields.items()}


def _parsed(payload: dict) -> dict:
    """Payload values back to the model's types, validated (a bad value saves nothing)."""
    parsed = {}
    for name, raw in payload.items():
        try:
            field = DriftPolicy._meta.get_field(name)
        except Exception:  # noqa: BLE001 - FieldDoesNotExist: the payload's own error below
            raise ValidationError({"payload": f"Not a drift-policy field: {name}."}) from None
        if not field.editable or field.name in ("agent", "id"):
            raise ValidationError({"payload": f"Not a drift-policy setting: {name}."})
        parsed[name] = field.clean(raw, None)
    return parsed


@transaction.atomic
def driftpolicy_change(*, agent: Agent, user, **fields) -> DriftPolicy | ApprovalRequest:
    """Save a drift-policy change that only tightens (or leaves alone) the policy; propose one
    that weakens it as a two-person request (returned) and change nothing now."""
    if not user_can_edit_agent(user, agent):
        raise PermissionDenied(f"You may not change the drift policy of {agent.name}.")
    DriftPolicy.objects.get_or_create(agent=agent)
    policy = DriftPolicy.objects.select_for_update().get(agent=agent)
    if drift_weakenings(policy, fields):
        changed = {name: value for name, value in fields.items() if value != getattr(policy, name)}
        return change_request_create(
            agent=agent,
            kind=DRIFT_POLICY_CHANGE,
            payload=_as_payload(changed),
            requester=user,
            justification="Drift policy change that weakens: " + ", ".join(drift_weakenings(policy, fields)) + ".",
        )
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    return policy


def _normalize(agent, payload, version):
    if agent is None:
        raise ValidationError({"agent": "Name the agent whose drift policy changes."})
    if not isinstance(payload, dict) or not payload:
        raise ValidationError({"payload": "Give the drift-policy settings that change."})
    parsed = _parsed(payload)
    policy = DriftPolicy.objects.filter(agent=agent).first() or DriftPolicy(agent=agent)
    candidate = DriftPolicy(**{**{f.attname: getattr(policy, f.attname) for f in DriftPolicy._meta.concrete_fields}})
    for name, value in parsed.items():
        setattr(candidate, name, value)
    candidate.full_clean(exclude=["agent", "id"])
    return _as_payload(parsed), None


def _apply(request, actor):
    policy, _ = DriftPolicy.objects.get_or_create(agent=request.agent)
    policy = DriftPolicy.objects.select_for_update().get(pk=policy.pk)
    for name, value in _parsed(request.payload).items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()


def _diff(request):
    policy = DriftPolicy.objects.filter(agent=request.agent).first() or DriftPolicy(agent=request.agent)
    return [
        DiffRow(str(DriftPolicy._meta.get_field(name).verbose_name), str(getattr(policy, name)), str(value))
        for name, value in request.payload.items()
    ]


DRIFT_POLICY_CHANGE_KIND = KindSpec(
    DRIFT_POLICY_CHANGE,
    "Drift-policy change (weakens a control)",
    _normalize,
    _apply,
    _diff,
    min_approvals=2,
    lowers_control=True,
)
