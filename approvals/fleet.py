"""Fleet-wide controls through the engine (issue 13, item 4).

Pulling the fleet kill switch is one operator's call (stopping is always safe); turning side
effects back on for every agent is a request like any other change, under the two-person rule:
kind ``fleet_reenable``, with no agent (the request is about the whole fleet), at least two
distinct approvers who hold ``approve_agent`` for every agent, never the requester. Whoever may
pull the switch may ask. The Django admin cannot change the switch (``registry.admin``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from registry import roles as role_names
from registry import services as registry_services
from registry.governance import FLEET_REENABLE
from registry.models import GlobalControls

from .kinds import DiffRow, KindSpec, register_kind


def _fleet_normalize(agent, payload, version):
    if agent is not None:
        raise ValidationError({"agent": "Re-enabling the fleet concerns every agent; name none."})
    if not isinstance(payload, dict) or set(payload) - {"side_effects_enabled"}:
        raise ValidationError({"payload": "The only field is side_effects_enabled (true)."})
    if payload.get("side_effects_enabled", True) is not True:
        raise ValidationError({"side_effects_enabled": "This request turns side effects back on; pulling needs none."})
    if GlobalControls.load().side_effects_enabled:
        raise ValidationError({"side_effects_enabled": "Fleet side effects are already enabled."})
    return {"side_effects_enabled": True}, None


def _fleet_apply(request, actor):
    registry_services.global_controls_set(
        side_effects_enabled=True, actor=actor, reason=f"Re-enabled by approval request #{request.pk}."
    )


def _fleet_diff(request):
    now = "enabled" if GlobalControls.load().side_effects_enabled else "disabled"
    return [DiffRow("Fleet side effects", now, "enabled")]


register_kind(
    KindSpec(
        FLEET_REENABLE,
        "Re-enable side effects for the whole fleet",
        _fleet_normalize,
        _fleet_apply,
        _fleet_diff,
        min_approvals=2,
        lowers_control=True,
        fleet_wide=True,
        request_perms=("change_globalcontrols",),
        eligible_roles=(role_names.APPROVER, role_names.GOVERNANCE_BOARD),
        # The strictest tier's policy: turning every agent back on is at least as serious as any one.
        policy_tier=lambda agent, payload: 1,
    )
)
