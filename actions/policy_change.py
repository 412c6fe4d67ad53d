"""A new action-policy version takes effect only through a two-person change request (issue 13).

The governance board proposes a policy (the edit page and the admin start a request of kind
``action_policy_change`` instead of saving a version); the version in force stays in force
until two approvers other than the requester agree, and applying the request saves the proposed
texts as the tool's next version. The request page shows the rule-text diff and the sample
actions whose decision the change moves: the last stored requests for the tool and the declared
number fields at round boundary values, each decided by the current and by the proposed rules
(:func:`actions.services.policy_outcome`, the gate's own code).

A request names no agent: a tool's policy governs every agent granted the tool."""

from __future__ import annotations

import difflib
import itertools

from django.core.exceptions import ValidationError

from approvals.exceptions import ApplyBlocked
from approvals.kinds import DiffRow, KindSpec
from registry import roles as role_names
from registry.governance import GovernedField
from registry.models import Tool

from .choices import ActionStatus
from .language import parameters_coerce
from .models import ActionPolicyVersion, ActionRequest
from .policy_analysis import ERROR, WARNING
from .selectors import policy_findings
from .services import policy_current, policy_outcome, policy_validate, policy_version_create, tool_locked_for_apply
from .shadow import shadow_end_promoted

ACTION_POLICY_CHANGE = "action_policy_change"
PAYLOAD_KEYS = {"tool", "fields_source", "rules_source", "redact_fields", "retention_days", "note", "base_number"}
SAMPLE_STORED = 20
SAMPLE_AMOUNTS = ("0", "10", "50", "100", "500", "1000", "5000", "10000")
MAX_SAMPLES = 60


def _normalize(agent, payload, version):
    if agent is not None:
        raise ValidationError({"agent": "A tool's action policy concerns every agent granted it; name no agent."})
    if not isinstance(payload, dict) or set(payload) - PAYLOAD_KEYS:
        raise ValidationError({"payload": f"Known fields: {', '.join(sorted(PAYLOAD_KEYS))}."})
    tool = Tool.objects.filter(name=payload.get("tool") or "").first()
    if tool is None:
        raise ValidationError({"tool": "Name a tool of the catalog, for example payments.refund."})
    fields_source = str(payload.get("fields_source") or "").strip()
    rules_source = str(payload.get("rules_source") or "").strip()
    _fields, _rules, redact, days = policy_validate(
        fields_source=fields_source,
        rules_source=rules_source,
        redact_fields=payload.get("redact_fields") or [],
        retention_days=payload.get("retention_days", 365),
    )
    current = policy_current(tool=tool)
    # Static analysis (issue 18): a rule that can never decide is refused; warnings are shown.
    errors = [
        f.describe()
        for f in policy_findings(tool=tool, fields_source=fields_source, rules_source=rules_source)
        if f.severity == ERROR
    ]
    if errors:
        raise ValidationError({"rules_source": errors})
    proposed = (fields_source, rules_source, redact, days)
    if current is not None and proposed == (
        current.fields_source,
        current.rules_source,
        current.redact_fields,
        current.retention_days,
    ):
        raise ValidationError({"rules_source": f"This is {tool.name}'s policy in force (v{current.number})."})
    return (
        {
            "tool": tool.name,
            "fields_source": fields_source,
            "rules_source": rules_source,
            "redact_fields": redact,
            "retention_days": days,
            "note": str(payload.get("note") or "").strip()[:500],
            "base_number": current.number if current else 0,
        },
        None,
    )


def _apply(request, actor):
    p = request.payload
    tool = tool_locked_for_apply(p["tool"])
    current = policy_current(tool=tool)
    if (current.number if current else 0) != p["base_number"]:
        raise ApplyBlocked(
            f"{tool.name}'s policy changed meanwhile (proposed over v{p['base_number']}, v{current.number} in force); "
            "propose again over the version in force."
        )
    version = policy_version_create(
        tool=tool,
        fields_source=p["fields_source"],
        rules_source=p["rules_source"],
        redact_fields=p["redact_fields"],
        retention_days=p["retention_days"],
        note=p["note"] or f"Approval request #{request.pk}.",
        actor=request.requester,
    )
    # A shadow running these very rules was just promoted: it ends (issue 18).
    shadow_end_promoted(tool=tool, rules_source=p["rules_source"], version_number=version.number)


def _decision_words(outcome) -> str:
    if outcome.status == ActionStatus.ALLOWED:
        return "allow"
    if outcome.status == ActionStatus.DENIED:
        return "deny"
    return f"needs {outcome.required_approvals} approval(s)"


def sample_actions(tool: Tool, fields: dict[str, dict]) -> list[dict]:
    """Parameters to compare two policies on: the tool's last stored requests, and each declared
    number field at round boundary values crossed with each choice of each enum field."""
    stored = ActionRequest.objects.filter(tool=tool).order_by("-created_at")[:SAMPLE_STORED]
    samples = [dict(action.parameters) for action in stored]
    numbers = [name for name, spec in fields.items() if spec["type"] in ("decimal", "integer")]
    enums = [
        [(name, choice) for choice in spec.get("choices", [])]
        for name, spec in fields.items()
        if spec["type"] == "enum"
    ]
    for combo in itertools.product(*enums) if enums else [()]:
        for amount in SAMPLE_AMOUNTS:
            samples.append({**dict(combo), **{name: amount for name in numbers}})
    unique = {tuple(sorted((k, str(v)) for k, v in s.items())): s for s in samples}
    return list(unique.values())[:MAX_SAMPLES]


def _decide(tool: Tool, fields: dict, rules: list, params: dict) -> str:
    values, errors = parameters_coerce(fields, params)
    if errors:
        return "refused (bad input)"
    return _decision_words(policy_outcome(tool=tool, rules=rules, values=values))


def _diff(request):
    p = request.payload
    tool = Tool.objects.filter(name=p["tool"]).first()
    current = policy_current(tool=tool) if tool else None
    rows = [DiffRow("Policy version", f"v{current.number}" if current else "none", "next version")]
    before = (current.rules_source if current else "").splitlines()
    after = p["rules_source"].splitlines()
    for line in difflib.ndiff(before, after):
        if line.startswith("- "):
            rows.append(DiffRow("Rule removed", line[2:], "—"))
        elif line.startswith("+ "):
            rows.append(DiffRow("Rule added", "—", line[2:]))
    if current is None or current.fields_source != p["fields_source"]:
        rows.append(DiffRow("Fields", current.fields_source if current else "none", p["fields_source"]))
    if tool is None:
        return rows
    fields, rules, _r, _d = policy_validate(
        fields_source=p["fields_source"],
        rules_source=p["rules_source"],
        redact_fields=p["redact_fields"],
        retention_days=p["retention_days"],
    )
    for finding in policy_findings(tool=tool, fields_source=p["fields_source"], rules_source=p["rules_source"]):
        rows.append(DiffRow(f"Static analysis ({finding.severity})", "", finding.describe()))
    for params in sample_actions(tool, fields):
        now = _decide(tool, current.fields, current.rules, params) if current else _decide(tool, fields, [], params)
        proposed = _decide(tool, fields, rules, params)
        if now != proposed:
            words = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
            rows.append(DiffRow(f"Sample action: {words}", now, proposed))
    return rows


def _warnings(request) -> list[dict]:
    """The static-analysis warnings on the proposed texts (errors were refused at ``_normalize``),
    for the API's 201 answer: where (line, column, which text), what, and the check's code."""
    p = request.payload
    tool = Tool.objects.filter(name=p["tool"]).first()
    if tool is None:
        return []
    findings = policy_findings(tool=tool, fields_source=p["fields_source"], rules_source=p["rules_source"])
    return [
        {"line": f.line, "column": f.column, "message": f.message, "code": f.code, "where": f.where}
        for f in findings
        if f.severity == WARNING
    ]


ACTION_POLICY_CHANGE_KIND = KindSpec(
    ACTION_POLICY_CHANGE,
    "Action-policy change",
    _normalize,
    _apply,
    _diff,
    min_approvals=2,
    lowers_control=True,
    fleet_wide=True,
    request_perms=("change_tool",),
    eligible_roles=(role_names.APPROVER, role_names.GOVERNANCE_BOARD),
    policy_tier=lambda agent, payload: 1,
    warnings=_warnings,
)

# Declared with the registry's governed fields: a policy version is never written directly.
GOVERNED = (
    GovernedField(ActionPolicyVersion, "rules_source", ACTION_POLICY_CHANGE, on_create=False),
    GovernedField(ActionPolicyVersion, "fields_source", ACTION_POLICY_CHANGE, on_create=False),
)
