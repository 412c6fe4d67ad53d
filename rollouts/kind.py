"""The ``rollout_plan`` request kind: a version's go-live as a plan of gated stages.

Approving the plan is the two-person part (``min_approvals=2``); the steps within it are then
automatic and audited (``rollouts.services.plan_tick``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

from approvals.kind_forms import DecimalTextField
from approvals.kinds import DiffRow, KindSpec
from registry.choices import PROMOTABLE_VERSION_STATES, AgentStatus, VersionState
from registry.models import Agent, AgentVersion

from .choices import (
    DEFAULT_COST_TOLERANCE_PCT,
    DEFAULT_MIN_SAMPLE,
    DEFAULT_P95_SLO_MS,
    DEFAULT_SUCCESS_TOLERANCE_PP,
    PRESETS,
    OnFailure,
)

ROLLOUT_PLAN = "rollout_plan"
MAX_STAGES = 10
ALLOWED = {
    "version", "version_id", "label", "bundle_digest", "preset", "stages", "on_failure",
    "success_tolerance_pp", "cost_tolerance_pct", "p95_slo_ms", "min_sample",
}  # fmt: skip


def _version(agent: Agent, payload: dict) -> AgentVersion:
    raw_id, label = payload.get("version_id"), payload.get("version")
    try:
        if raw_id is not None:
            return agent.versions.get(pk=int(raw_id))
        if isinstance(label, str) and label:
            return agent.versions.get(label=label)
    except (TypeError, ValueError, AgentVersion.DoesNotExist):
        pass
    raise ValidationError({"version": f"Name a version of {agent.slug} (its label, for example 1.4)."})


def _decimal(payload: dict, key: str, default: str, low: str, high: str, words: str) -> str:
    raw = payload.get(key, default)
    try:
        value = Decimal(str(raw)).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        value = None
    if isinstance(raw, bool) or value is None or not Decimal(low) <= value <= Decimal(high):
        raise ValidationError({key: f"Give {words} as a number from {low} to {high}."})
    return str(value)


def _integer(payload: dict, key: str, default: int, low: int, high: int, words: str) -> int:
    raw = payload.get(key, default)
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        value = None
    if isinstance(raw, bool) or value is None or not low <= value <= high:
        raise ValidationError({key: f"Give {words} as a whole number from {low} to {high}."})
    return value


def _stages(payload: dict) -> list[dict]:
    """Explicit stages, or a preset's. Shares rise strictly, each below 100 (100 % is the go-live
    that follows the last stage); each stage lasts 1 to 720 hours."""
    if payload.get("stages") is None:
        preset = payload.get("preset") or "gradual"
        if preset not in PRESETS:
            raise ValidationError({"preset": f"Choose a preset: {', '.join(PRESETS)}."})
        return [dict(s) for s in PRESETS[preset][1]]
    raw = payload["stages"]
    words = 'Give the stages as a list like [{"share_pct": "5", "min_hours": 48}], shares rising, each below 100.'
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_STAGES:
        raise ValidationError({"stages": words})
    stages, last = [], Decimal("0")
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"share_pct", "min_hours"}:
            raise ValidationError({"stages": words})
        share = Decimal(_decimal(item, "share_pct", "", "0.01", "99.99", "each stage's share"))
        hours = _integer(item, "min_hours", 0, 1, 720, "each stage's minimum hours")
        if share <= last:
            raise ValidationError({"stages": words})
        stages.append({"share_pct": format(share.normalize(), "f"), "min_hours": hours})
        last = share
    return stages


def rollout_plan_normalize(agent, payload, version):
    if not isinstance(payload, dict):
        raise ValidationError({"payload": "The payload must be a JSON object."})
    unknown = sorted(set(payload) - ALLOWED)
    if unknown:
        raise ValidationError({"payload": f"Unknown field(s) for this kind: {', '.join(unknown)}."})
    version = version if version is not None and version.agent_id == agent.pk else _version(agent, payload)
    if version.state == VersionState.DEPLOYED:
        raise ValidationError({"version": f"Version {version.label} is already deployed."})
    if version.state not in PROMOTABLE_VERSION_STATES:
        state = version.get_state_display().lower()
        raise ValidationError({"version": f"Version {version.label} is {state}; a plan needs an approved one."})
    if agent.status == AgentStatus.RETIRED:
        raise ValidationError({"agent": f"{agent.name} is retired."})
    if agent.deployed_version is None:
        raise ValidationError({"version": f"{agent.name} has no deployed version to compare a canary with; go live."})
    on_failure = payload.get("on_failure") or OnFailure.HALT
    if on_failure not in OnFailure.values:
        raise ValidationError({"on_failure": "Choose what a failing gate does: halt or rollback."})
    canonical = {
        "version_id": version.pk,
        "label": version.label,
        "bundle_digest": version.bundle_digest,
        "stages": _stages(payload),
        "on_failure": on_failure,
        "success_tolerance_pp": _decimal(
            payload, "success_tolerance_pp", DEFAULT_SUCCESS_TOLERANCE_PP, "0", "50", "the success tolerance (points)"
        ),
        "cost_tolerance_pct": _decimal(
            payload, "cost_tolerance_pct", DEFAULT_COST_TOLERANCE_PCT, "0", "500", "the cost tolerance (%)"
        ),
        "p95_slo_ms": _integer(payload, "p95_slo_ms", DEFAULT_P95_SLO_MS, 1, 600_000, "the p95 latency SLO (ms)"),
        "min_sample": _integer(payload, "min_sample", DEFAULT_MIN_SAMPLE, 1, 1_000_000, "the minimum sample"),
    }
    return canonical, version


def _apply(request, actor):
    from .services import plan_start  # services import this module's constants; keep the cycle out

    plan_start(request=request, actor=actor)


def _stages_words(stages: list[dict]) -> str:
    return " → ".join(f"{s['share_pct']} % ({s['min_hours']} h)" for s in stages) + " → 100 %"


def _diff(request):
    p = request.payload
    agent = request.agent
    now = f"{agent.canary_version.label} at {agent.canary_share_pct} %" if agent.canary_version else "none"
    deployed = agent.deployed_version
    return [
        DiffRow("Deployed version", deployed.label if deployed else "none", f"{p['label']} after the last stage"),
        DiffRow("Canary", now, f"{p['label']} at {p['stages'][0]['share_pct']} %"),
        DiffRow("Stages", "—", _stages_words(p["stages"])),
        DiffRow(
            "Gates",
            "—",
            f"success within {p['success_tolerance_pp']} points, p95 ≤ {p['p95_slo_ms']} ms, cost per success "
            f"within {p['cost_tolerance_pct']} %, no new violations, ≥ {p['min_sample']} runs",
        ),
        DiffRow("On a failing gate", "—", OnFailure(p["on_failure"]).label),
    ]


def rollout_plan_fields(agent: Agent) -> dict[str, forms.Field]:
    versions = agent.versions.filter(state__in=PROMOTABLE_VERSION_STATES)
    return {
        "version": forms.ChoiceField(
            choices=[(v.label, f"{v.label} — {v.model_provider} / {v.model_name}") for v in versions],
            help_text="An approved (or rolled-back) version.",
        ),
        "preset": forms.ChoiceField(choices=[(k, words) for k, (words, _s) in PRESETS.items()]),
        "on_failure": forms.ChoiceField(choices=OnFailure.choices, initial=OnFailure.HALT),
        "success_tolerance_pp": DecimalTextField(
            label="Success tolerance (points)", initial=DEFAULT_SUCCESS_TOLERANCE_PP, min_value=0, max_value=50
        ),
        "p95_slo_ms": forms.IntegerField(label="p95 latency SLO (ms)", initial=DEFAULT_P95_SLO_MS, min_value=1),
    }


ROLLOUT_PLAN_KIND = KindSpec(
    ROLLOUT_PLAN,
    "Rollout plan (gated canary to go-live)",
    rollout_plan_normalize,
    _apply,
    _diff,
    min_approvals=2,
    form_fields=rollout_plan_fields,
)
