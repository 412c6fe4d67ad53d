"""The ``runtime_action`` request kind: how a pending action looks and behaves in the approvals
engine. People decide it in the approvals queue like any change request; applying it marks the
action approved (the agent then performs it), closing it marks it denied or expired."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError

from approvals.kinds import DiffRow, KindSpec

PAYLOAD_KEYS = {"action_request", "tool", "parameters", "rule", "policy_version", "change_request"}


def _normalize(agent, payload, version):
    if not isinstance(payload, dict) or set(payload) != PAYLOAD_KEYS:
        raise ValidationError({"payload": "A runtime action is created by the action gate only."})
    return payload, None


def _apply(request, actor):
    from .services import action_mark_approved

    action_mark_approved(approval_request=request)


def _on_abandon(request):
    from .services import action_mark_closed

    action_mark_closed(approval_request=request)


def _step_up(request) -> str | None:
    """A runtime action whose ``amount_usd`` parameter is above ``QUORUM_STEP_UP_ACTION_AMOUNT_USD``
    needs a fresh multi-factor sign-in to decide (approvals.eligibility.step_up_needed)."""
    value = (request.payload.get("parameters") or {}).get("amount_usd")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None  # absent or not a number: nothing to compare
    limit = Decimal(str(settings.QUORUM_STEP_UP_ACTION_AMOUNT_USD))
    if not amount.is_finite() or amount <= limit:
        return None
    return f"Deciding a runtime action of {amount} USD (above {limit} USD)"


def _diff(request):
    p = request.payload
    rows = [
        DiffRow("Tool", "—", p["tool"]),
        DiffRow("Rule that asked for approval", "—", p["rule"] or "—"),
        DiffRow(
            "Policy version", "—", f"v{p['policy_version']}" if p["policy_version"] else "no policy (tier default)"
        ),
    ]
    if p.get("change_request"):
        rows.append(DiffRow("Linked change request", "—", f"#{p['change_request']}"))
    for name, value in (p.get("parameters") or {}).items():
        rows.append(DiffRow(f"Parameter: {name}", "—", str(value)))
    rows.append(DiffRow("Action", "not performed", "agent may perform it"))
    return rows


RUNTIME_ACTION_KIND = KindSpec(
    "runtime_action",
    "Runtime action",
    _normalize,
    _apply,
    _diff,
    # Nobody raises these from the console: only the gate does, for an agent.
    request_perms=(),
    ttl=timedelta(minutes=15),
    on_abandon=_on_abandon,
    step_up=_step_up,
    diff_reads_db=False,
    # action_mark_approved checks the kill switch before it marks the action approved.
    apply_blocks_before_writing=True,
)
