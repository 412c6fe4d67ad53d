""" "Why was this allowed?": everything behind one decision, joined on one page.

For an action request (the runtime gate) and for a change request (the approvals engine) this
gathers the policy and the rule that matched (with its text), the grant and constraint checks,
the kill switches at that moment, the approvals with their reasons and times, the version and
its bundle digest, the eval run that gated the version, and the runs that followed.

Each fact says whether it was *recorded* at decision time (the decision row, its snapshot, the
decisions) or *reconstructed* afterwards (for decisions made before the snapshot was kept): a
reconstructed fact names where it came from. A fixed number of queries, whatever the number of
approvals or runs (the page's query-count test holds it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from actions.choices import ActionStatus, DecisionSource
from actions.models import ActionRequest
from approvals.choices import RELEASE_KINDS, ChecklistKey, RequestStatus
from approvals.models import ApprovalRequest
from approvals.services import policy_describe
from evals.choices import RunStatus
from evals.models import EvalRun
from registry.models import Agent, AgentVersion, GlobalControls
from registry.selectors import user_display_name
from telemetry.models import Run

RUNS_SHOWN = 10


@dataclass
class Fact:
    """One line of the page: a label, its value, and whether it was recorded or reconstructed."""

    label: str
    value: str
    recorded: bool = True
    source: str = ""  # for a reconstructed fact: where it came from
    url: str = ""


@dataclass
class Approval:
    who: str
    verdict: str
    reason: str
    at: datetime
    roles: list[str]


@dataclass
class Why:
    subject: str
    agent: Agent | None
    status: str
    decided_at: datetime | None
    decision: list[Fact] = field(default_factory=list)
    rule_text: str = ""
    policy_text: str = ""
    checks: list[Fact] = field(default_factory=list)
    kill_switch: list[Fact] = field(default_factory=list)
    version: list[Fact] = field(default_factory=list)
    eval_run: list[Fact] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    approval_policy: str = ""
    approval_request: ApprovalRequest | None = None
    runs: list[Run] = field(default_factory=list)
    runs_after: datetime | None = None


# --- shared parts ---------------------------------------------------------------------------------


def _approvals(req: ApprovalRequest | None) -> list[Approval]:
    if req is None:
        return []
    return [
        Approval(user_display_name(d.approver), d.get_verdict_display(), d.reason, d.decided_at, d.approver_roles)
        for d in req.decisions.all()  # prefetched with their approvers
    ]


def _switch_history(model, object_id: int, at: datetime) -> bool | None:
    """The switch's value at ``at`` from the model log (its last change before then); None when
    it was never changed before then."""
    ct = ContentType.objects.get_for_model(model)  # cached after the first call
    entry = (
        LogEntry.objects.filter(
            content_type=ct, object_id=object_id, timestamp__lte=at, changes__has_key="side_effects_enabled"
        )
        .order_by("-timestamp", "-pk")
        .only("changes")
        .first()
    )
    if entry is None:
        return None
    value = entry.changes_dict.get("side_effects_enabled")
    new = value[1] if isinstance(value, list | tuple) and len(value) == 2 else value
    return str(new).lower() in ("true", "1")


def _on_off(enabled: bool | None) -> str:
    if enabled is None:
        return "not read"
    return "on (side effects enabled)" if enabled else "PULLED (side effects disabled)"


def _switch_facts(snapshot: dict | None, agent_id: int | None, at: datetime | None) -> list[Fact]:
    """The agent's and the fleet's kill switch at the decision: as recorded, or from the log."""
    if snapshot and snapshot.get("kill_switch"):
        ks = snapshot["kill_switch"]
        facts = []
        if agent_id is not None:
            facts.append(Fact("Agent's kill switch", _on_off(ks.get("agent_side_effects_enabled"))))
        facts.append(Fact("Fleet kill switch", _on_off(ks.get("fleet_side_effects_enabled"))))
        return facts
    if at is None:
        return [Fact("Kill switches", "no decision yet", recorded=False, source="nothing to reconstruct")]
    source = "reconstructed from the model log (last change before the decision; none means never switched off)"
    facts = []
    if agent_id is not None:
        agent_state = _switch_history(Agent, agent_id, at)
        facts.append(Fact("Agent's kill switch", _on_off(True if agent_state is None else agent_state), False, source))
    fleet_state = _switch_history(GlobalControls, 1, at)
    facts.append(Fact("Fleet kill switch", _on_off(True if fleet_state is None else fleet_state), False, source))
    return facts


def _version_facts(version: dict | None, recorded: bool, source: str = "") -> list[Fact]:
    if version is None:
        return [Fact("Version", "none", recorded, source)]
    return [
        Fact("Version", version["label"], recorded, source),
        Fact("Bundle digest", version["bundle_digest"], recorded, source),
    ]


def _version_dict(version: AgentVersion | None) -> dict | None:
    return {"label": version.label, "bundle_digest": version.bundle_digest} if version else None


def _deployed_at(agent_id: int, at: datetime) -> AgentVersion | None:
    """The version whose go-live (or new version) was applied last before ``at``."""
    release = (
        ApprovalRequest.objects.filter(
            agent_id=agent_id, kind__in=RELEASE_KINDS, status=RequestStatus.APPLIED, applied_at__lte=at
        )
        .select_related("version")
        .order_by("-applied_at")
        .first()
    )
    return release.version if release else None


def _eval_facts(version_id: int | None, before: datetime | None, evidence: str = "") -> list[Fact]:
    """The eval run that vouched for the version: the latest passing completed run of it
    before the decision (go-live cannot apply without one), and the checklist's evidence."""
    if version_id is None:
        return [Fact("Eval run", "no version, so no eval run gated it", recorded=False, source="no version")]
    runs = EvalRun.objects.filter(version_id=version_id, status=RunStatus.COMPLETED, passed=True)
    if before is not None:
        runs = runs.filter(finished_at__lte=before)
    run = runs.select_related("set_version__golden_set").order_by("-finished_at", "-pk").first()
    facts = []
    if evidence:
        facts.append(Fact("Checklist evidence (eval threshold)", evidence, url=evidence if "://" in evidence else ""))
    if run is None:
        facts.append(Fact("Eval run", "none passing before the decision", False, "eval runs of the version"))
    else:
        pass_rate = f"{run.pass_rate_pct}% (threshold {run.threshold_pct}%)"
        value = f"#{run.pk} on {run.set_version}: {pass_rate}, finished {run.finished_at:%Y-%m-%d %H:%M} UTC"
        facts.append(
            Fact(
                "Eval run",
                value,
                False,
                "latest passing run of the version before the decision",
                run.get_absolute_url(),
            )
        )
    return facts


def _runs_after(agent_id: int | None, after: datetime | None) -> list[Run]:
    if agent_id is None or after is None:
        return []
    return list(
        Run.objects.filter(agent_id=agent_id, started_at__gte=after)
        .order_by("started_at", "pk")
        .only("run_id", "started_at", "status", "outcome", "version_label", "bundle_digest", "cost_usd")[:RUNS_SHOWN]
    )


# --- an action request ----------------------------------------------------------------------------


def _action_checks(action: ActionRequest, snapshot: dict | None) -> list[Fact]:
    if snapshot:
        grant = snapshot.get("grant")
        constraints = ", ".join(f"{k}={v}" for k, v in (grant or {}).get("constraints", {}).items()) or "none"
        return [
            Fact("Grant", f"grant #{grant['id']}" if grant else "none"),
            Fact("Grant constraints", constraints if grant else "—"),
            Fact("Grant and constraint check", snapshot.get("grant_check", "")),
        ]
    source = "reconstructed from the decision: the gate checks the grant before any rule"
    if action.source == DecisionSource.KILL_SWITCH:
        verdict = "not checked: the kill switch decided first"
    elif action.source == DecisionSource.POLICY_RULE and action.rule_number is None:
        verdict = f"refused: {action.reason}"
    else:
        verdict = "passed"
    return [Fact("Grant and constraint check", verdict, recorded=False, source=source)]


def _action_version(action: ActionRequest, snapshot: dict | None) -> list[Fact]:
    if snapshot and "version" in snapshot:
        return _version_facts(snapshot["version"], True)
    version = _deployed_at(action.agent_id, action.created_at)
    source = "reconstructed: the version whose release was applied last before the request"
    return _version_facts(_version_dict(version), False, source)


def why_action(action: ActionRequest) -> Why:
    """Everything behind one runtime action's decision (``action`` from
    ``actions.selectors.action_requests_visible_to``)."""
    snapshot = action.decision_snapshot
    policy = action.policy_version
    why = Why(
        subject=f"{action.tool.name} by {action.agent.name}",
        agent=action.agent,
        status=action.get_status_display(),
        decided_at=action.decided_at,
    )
    why.decision = [
        Fact("Decided by", action.get_source_display()),
        Fact(
            "Policy version",
            f"{action.tool.name} policy v{policy.number}" if policy else "no policy",
            url=policy.get_absolute_url() if policy else "",
        ),
        Fact("Rule that matched", f"rule {action.rule_number}" if action.rule_number else "no rule (see reason)"),
        Fact("Reason", action.reason or "—"),
        Fact("Asked at", f"{action.created_at:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    why.rule_text = action.rule_text
    why.policy_text = policy.rules_source if policy else ""
    why.checks = _action_checks(action, snapshot)
    why.kill_switch = _switch_facts(snapshot, action.agent_id, action.decided_at or action.created_at)
    implied_on = action.status in (ActionStatus.ALLOWED, ActionStatus.PENDING, ActionStatus.APPROVED)
    if snapshot is None and action.tool.has_side_effects and implied_on:
        source = "the decision itself: the gate denies side effects while a switch is pulled"
        why.kill_switch.append(Fact("Implied by the decision", "both switches on", False, source))
    why.version = _action_version(action, snapshot)
    version_label = why.version[0].value if why.version else ""
    version_id = (
        AgentVersion.objects.filter(agent_id=action.agent_id, label=version_label).values_list("pk", flat=True).first()
    )
    why.eval_run = _eval_facts(version_id, action.created_at)
    why.approval_request = action.approval_request
    if action.approval_request_id:
        why.approvals = _approvals(action.approval_request)
        why.approval_policy = policy_describe(action.approval_request.policy_snapshot)
    why.runs_after = action.decided_at
    why.runs = _runs_after(action.agent_id, action.decided_at)
    return why


# --- a change request -----------------------------------------------------------------------------


def _change_checks(req: ApprovalRequest) -> list[Fact]:
    facts = []
    for item in req.checklist.all():  # prefetched with who ticked
        if item.done:
            who = "automatically" if item.automatic else f"by {user_display_name(item.ticked_by)}"
            value = f"done {who} at {item.ticked_at:%Y-%m-%d %H:%M} UTC; evidence: {item.evidence}"
        else:
            value = "open"
        facts.append(Fact(item.get_key_display(), value, url=item.evidence if item.evidence_is_link else ""))
    for row in req.diff_at_apply or []:
        facts.append(Fact(f"Changed: {row['label']}", f"{row['current']} → {row['proposed']}"))
    return facts


def why_change(req: ApprovalRequest) -> Why:
    """Everything behind one change request's apply (``req`` from
    ``approvals.selectors.requests_visible_to``, decisions and checklist prefetched)."""
    snapshot = req.apply_snapshot
    at = req.applied_at or req.decided_at
    why = Why(
        subject=f"#{req.pk} {req.kind_label} for {req.target_name}",
        agent=req.agent,
        status=req.get_status_display(),
        decided_at=at,
    )
    team = req.agent.owner_team.name if req.agent_id and req.agent.owner_team_id else "the owning team"
    why.approval_policy = policy_describe(req.policy_snapshot, team)
    why.decision = [
        Fact("Kind", req.kind_label),
        Fact("Approval policy (frozen at creation)", why.approval_policy),
        Fact("Eligible roles", ", ".join(req.policy_snapshot.get("eligible_roles", [])) or "—"),
        Fact("Requested by", user_display_name(req.requester, nobody="an agent at runtime")),
        Fact("Justification", req.justification),
        Fact("Payload hash the approvers saw", req.payload_hash),
    ]
    if req.policy_snapshot.get("action_rule"):
        why.rule_text = req.policy_snapshot["action_rule"]
    why.checks = _change_checks(req)
    why.kill_switch = _switch_facts(snapshot, req.agent_id, at)
    if snapshot and "version" in snapshot:
        why.version = _version_facts(snapshot["version"], True)
    else:
        why.version = _version_facts(_version_dict(req.version), False, "read now from the request's version")
    evidence = next((i.evidence for i in req.checklist.all() if i.key == ChecklistKey.EVAL_THRESHOLD and i.done), "")
    why.eval_run = _eval_facts(req.version_id, at, evidence)
    why.approvals = _approvals(req)
    why.runs_after = req.applied_at
    why.runs = _runs_after(req.agent_id, req.applied_at)
    return why
