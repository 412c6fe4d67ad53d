"""Shadow mode (issue 18, item 1): draft rules run beside a tool's policy in force and record what
they would have decided — never applied.

The rules, and why:

* **Governed.** A shadow is set, replaced or stopped only by an applied two-person request of
  kind ``action_policy_shadow`` (the same approvers as a policy change: a shadow is the step
  before one). Promoting a shadow is the policy change itself (``action_policy_change`` with the
  shadow's rules); applying it ends the shadow.
* **Same facts.** The gate calls :func:`shadow_evaluate` once per stored request, after the real
  decision, with the very ``values`` dict the active version decided on; the shadow is decided
  by :func:`actions.services.policy_outcome`, the gate's own pure evaluator.
* **Only the policy's part.** Requests the kill switch, a budget cap or the grant decided are
  not the policy's to decide: the shadow records nothing for them.
* **Cheap and harmless.** The gate reads the running shadow with the tool (none running: nothing
  more), then one insert when there is one. Any failure in it is logged and swallowed: it never changes, delays
  past its own query, or rolls back the real decision (inside a caller's transaction it runs in a
  savepoint).
"""

from __future__ import annotations

import difflib
import logging
from contextlib import nullcontext

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from approvals.exceptions import ApplyBlocked
from approvals.kinds import DiffRow, KindSpec
from registry import roles as role_names
from registry.audit import acting_as
from registry.governance import GovernedField
from registry.models import Tool

from .choices import ActionStatus, DecisionSource
from .models import ActionRequest, PolicyShadow, ShadowDecision
from .policy_analysis import ERROR, policy_text_analyse
from .services import Outcome, policy_current, policy_outcome, policy_validate, tool_locked_for_apply

logger = logging.getLogger(__name__)

ACTION_POLICY_SHADOW = "action_policy_shadow"
PAYLOAD_KEYS = {"tool", "rules_source", "note", "base_number", "stop"}


# --- the gate's call ------------------------------------------------------------------------------


def _decided_before_rules(action: ActionRequest) -> bool:
    """The kill switch, a budget cap or the grant (a constraint or a rate) decided, not a rule."""
    return action.source in (DecisionSource.KILL_SWITCH, DecisionSource.BUDGET) or (
        action.status == ActionStatus.DENIED and action.source == DecisionSource.POLICY_RULE and not action.rule_number
    )


def _same_decision(outcome: Outcome, action: ActionRequest) -> bool:
    if outcome.status != action.status:
        return False
    if outcome.status != ActionStatus.PENDING:
        return True
    return outcome.required_approvals == action.required_approvals and ", ".join(outcome.roles) == action.approver_role


def shadow_evaluate(
    *, action: ActionRequest, tool: Tool, values: dict, shadow: tuple[int, list] | None = None
) -> ShadowDecision | None:
    """Record what the running shadow of ``tool`` (if any) would have decided for ``action``,
    just decided by the active version on ``values``. Never raises, never applies anything.
    ``shadow``: its ``(id, rules)`` when the caller read them already (the gate does, with the
    tool, and calls this only when one runs); otherwise one query finds it."""
    if action.policy_version_id is None or _decided_before_rules(action):
        return None
    # In a caller's transaction a savepoint keeps a failure here from aborting the decision's.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            if shadow is None:
                running = PolicyShadow.objects.filter(tool=tool, ended_at__isnull=True).only("pk", "rules").first()
                if running is None:
                    return None
                shadow = (running.pk, running.rules)
            shadow_id, rules = shadow
            outcome = policy_outcome(tool=tool, rules=rules, values=values)
            return ShadowDecision.objects.create(
                action=action,
                shadow_id=shadow_id,
                status=outcome.status,
                source=outcome.source,
                rule_number=outcome.rule_number,
                required_approvals=outcome.required_approvals,
                approver_role=", ".join(outcome.roles)[:150],
                active_status=action.status,
                active_rule_number=action.rule_number,
                agreed=_same_decision(outcome, action),
                created_at=action.created_at,
            )
    except Exception:  # noqa: BLE001 - a shadow must never affect the real decision
        logger.exception("shadow evaluation failed for action request %s", action.pk)
        return None


def shadow_end_promoted(*, tool: Tool, rules_source: str, version_number: int) -> None:
    """A policy change just put ``rules_source`` in force: a running shadow with those very rules
    has been promoted, and ends (called inside the change's apply, under its lock)."""
    PolicyShadow.objects.filter(tool=tool, ended_at__isnull=True, rules_source=rules_source.strip()).update(
        ended_at=timezone.now(), end_reason=f"promoted to v{version_number}"
    )


# --- the request kind -----------------------------------------------------------------------------


def _rules_checked(tool: Tool, current, rules_source: str) -> list[dict]:
    """The shadow's rules parsed over the version in force's fields; a rule that can never decide
    is refused like in a policy change."""
    if not rules_source:
        raise ValidationError({"rules_source": "Write the rules to run in shadow."})
    if rules_source == current.rules_source:
        raise ValidationError({"rules_source": f"These are {tool.name}'s rules in force (v{current.number})."})
    _fields, rules, _r, _d = policy_validate(
        fields_source=current.fields_source,
        rules_source=rules_source,
        redact_fields=current.redact_fields,
        retention_days=current.retention_days,
    )
    findings = policy_text_analyse(fields_source=current.fields_source, rules_source=rules_source)
    errors = [f.describe() for f in findings if f.severity == ERROR]
    if errors:
        raise ValidationError({"rules_source": errors})
    return rules


def _normalize(agent, payload, version):
    if agent is not None:
        raise ValidationError({"agent": "A tool's policy concerns every agent granted it; name no agent."})
    if not isinstance(payload, dict) or set(payload) - PAYLOAD_KEYS:
        raise ValidationError({"payload": f"Known fields: {', '.join(sorted(PAYLOAD_KEYS))}."})
    tool = Tool.objects.filter(name=payload.get("tool") or "").first()
    if tool is None:
        raise ValidationError({"tool": "Name a tool of the catalog, for example payments.refund."})
    current = policy_current(tool=tool)
    if current is None:
        raise ValidationError({"tool": f"{tool.name} has no policy in force; a shadow runs beside one."})
    stop = payload.get("stop") is True
    running = PolicyShadow.objects.filter(tool=tool, ended_at__isnull=True).exists()
    if stop and not running:
        raise ValidationError({"stop": f"{tool.name} has no shadow running."})
    rules_source = "" if stop else str(payload.get("rules_source") or "").strip()
    if not stop:
        _rules_checked(tool, current, rules_source)
    note = str(payload.get("note") or "").strip()[:500]
    return (
        {"tool": tool.name, "rules_source": rules_source, "note": note, "base_number": current.number, "stop": stop},
        None,
    )


def _apply(request, actor):
    p = request.payload
    # Two shadow requests applied at once: the tool row lock orders them (and the partial unique
    # constraint keeps one running shadow per tool whatever happens).
    tool = tool_locked_for_apply(p["tool"])
    current = policy_current(tool=tool)
    if current is None or current.number != p["base_number"]:
        raise ApplyBlocked(
            f"{tool.name}'s policy changed meanwhile (proposed over v{p['base_number']}); propose the shadow again."
        )
    now = timezone.now()
    with acting_as(request.requester):
        for running in PolicyShadow.objects.filter(tool=tool, ended_at__isnull=True):
            running.ended_at = now
            running.end_reason = f"{'stopped' if p['stop'] else 'replaced'} by request #{request.pk}"
            running.save(update_fields=["ended_at", "end_reason"])
        if p["stop"]:
            return
        PolicyShadow.objects.create(
            tool=tool,
            base_version=current,
            rules_source=p["rules_source"],
            rules=_rules_checked(tool, current, p["rules_source"]),
            note=p["note"],
            change_request=request,
            started_by=request.requester,
        )


def _diff(request):
    p = request.payload
    tool = Tool.objects.filter(name=p["tool"]).first()
    current = policy_current(tool=tool) if tool else None
    running = PolicyShadow.objects.filter(tool=tool, ended_at__isnull=True).first() if tool else None
    rows = [DiffRow("Shadow", f"#{running.pk}" if running else "none", "none" if p["stop"] else "new shadow")]
    if p["stop"] or current is None:
        return rows
    rows.append(DiffRow("Runs beside", "", f"v{current.number} (in force; not changed)"))
    for line in difflib.ndiff(current.rules_source.splitlines(), p["rules_source"].splitlines()):
        if line.startswith("- "):
            rows.append(DiffRow("Rule in force, not in the shadow", line[2:], "—"))
        elif line.startswith("+ "):
            rows.append(DiffRow("Rule in the shadow only", "—", line[2:]))
    for finding in policy_text_analyse(fields_source=current.fields_source, rules_source=p["rules_source"]):
        rows.append(DiffRow(f"Static analysis ({finding.severity})", "", finding.describe()))
    return rows


ACTION_POLICY_SHADOW_KIND = KindSpec(
    ACTION_POLICY_SHADOW,
    "Action-policy shadow",
    _normalize,
    _apply,
    _diff,
    min_approvals=2,
    # Governed like a policy change: stopping a shadow or promoting its insight is a control decision.
    lowers_control=True,
    fleet_wide=True,
    request_perms=("change_tool",),
    eligible_roles=(role_names.APPROVER, role_names.GOVERNANCE_BOARD),
    policy_tier=lambda agent, payload: 1,
)

GOVERNED = (GovernedField(PolicyShadow, "rules_source", ACTION_POLICY_SHADOW, on_create=False),)
