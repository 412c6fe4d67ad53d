"""Reads of the action gate: an action request as the agent sees it, what people may see,
policy blocks per agent for the reports, and the policy versions an agent's controls show."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Max, OuterRef, QuerySet, Subquery
from django.utils import timezone

from approvals.services import approvals_tally
from registry.choices import VersionState
from registry.models import Agent, Tool, ToolGrant
from registry.selectors import agents_visible_to

from .choices import ActionStatus, DecisionSource
from .models import ActionPolicyVersion, ActionRequest
from .policy_analysis import Finding, policy_text_analyse
from .services import action_effective_status, policy_current


def action_request_as_dict(action: ActionRequest, now: datetime | None = None) -> dict:
    """The agent's view of one request (the API answer and the webhook body)."""
    status = action_effective_status(action, now)
    approval = None
    if action.approval_request_id:
        req = action.approval_request
        tally = approvals_tally(req)
        approval = {
            "request_id": req.pk,
            "required_approvals": tally.required,
            "roles": req.policy_snapshot.get("eligible_roles", []),
            "approvals": tally.count,
            "blocked_reason": req.blocked_reason,
        }
    source = action.source
    reason = action.reason
    if status == ActionStatus.EXPIRED and action.status == ActionStatus.PENDING:
        source, reason = DecisionSource.EXPIRY, "no decision before the request expired"
    return {
        "id": str(action.pk),
        "status": status,
        "dry_run": False,
        "tool": action.tool.name,
        "idempotency_key": action.idempotency_key,
        "parameters": action.parameters,
        "decision": {
            "source": source,
            "policy_version": action.policy_version.number if action.policy_version_id else None,
            "rule": {"number": action.rule_number, "text": action.rule_text} if action.rule_number else None,
            "reason": reason,
        },
        "approval": approval,
        "change_request_id": action.change_request_id,
        "created_at": action.created_at,
        "decided_at": action.decided_at,
        "expires_at": action.expires_at,
    }


def action_requests_visible_to(user) -> QuerySet[ActionRequest]:
    """People see the action requests of the agents they may see (another team's is a 404)."""
    return ActionRequest.objects.filter(agent__in=agents_visible_to(user).values("pk")).select_related(
        "agent", "tool", "policy_version", "approval_request"
    )


def policy_blocks_by_agent(start: datetime, end: datetime) -> dict[int, int]:
    """Per agent id: how many action requests created in ``[start, end)`` the gate denied on its
    own (a deny rule or the kill switch). Denials by people are decisions, not policy blocks."""
    rows = (
        ActionRequest.objects.filter(
            created_at__gte=start,
            created_at__lt=end,
            status=ActionStatus.DENIED,
            source__in=[DecisionSource.POLICY_RULE, DecisionSource.KILL_SWITCH],
        )
        .values("agent_id")
        .annotate(n=Count("pk"))
    )
    return {row["agent_id"]: row["n"] for row in rows}


def action_counts_for_agent(*, agent: Agent, since: datetime) -> dict[str, int]:
    counts = dict(
        ActionRequest.objects.filter(agent=agent, created_at__gte=since)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    blocks = policy_blocks_by_agent(since, timezone.now() + timedelta(seconds=1)).get(agent.pk, 0)
    return {**{s: counts.get(s, 0) for s in ActionStatus.values}, "blocks": blocks}


def policies_overview() -> list[dict]:
    """Every tool with its policy in force (or none), for the policies page."""
    latest = ActionPolicyVersion.objects.filter(tool=OuterRef("pk")).order_by("-number")
    tools = Tool.objects.annotate(
        policy_number=Subquery(latest.values("number")[:1]),
        policy_updated=Subquery(latest.values("created_at")[:1]),
    ).order_by("-action_tier", "name")
    return list(tools)


def policy_versions(*, tool: Tool) -> QuerySet[ActionPolicyVersion]:
    return ActionPolicyVersion.objects.filter(tool=tool).select_related("created_by").order_by("-number")


def controls_extra(agent: Agent) -> dict:
    """A controls extra (``telemetry.extensions.controls_extras``): the action-policy version in
    force for each tool the agent's deployed (and canary) version is granted, so a policy edit
    changes the controls' ETag."""
    version_ids = [
        pk
        for pk in [
            agent.versions.filter(state=VersionState.DEPLOYED).values_list("pk", flat=True).first(),
            agent.canary_version_id if agent.canary_share_pct else None,
        ]
        if pk
    ]
    tool_ids = ToolGrant.objects.filter(version_id__in=version_ids).values("tool_id")
    rows = (
        ActionPolicyVersion.objects.filter(tool_id__in=tool_ids)
        .values("tool__name")
        .annotate(number=Max("number"))
        .order_by("tool__name")
    )
    return {"action_policy_versions": {row["tool__name"]: row["number"] for row in rows}}


def recent_for_agent(*, agent: Agent, limit: int = 10) -> list[ActionRequest]:
    return list(
        ActionRequest.objects.filter(agent=agent)
        .select_related("tool", "policy_version")
        .order_by("-created_at")[:limit]
    )


def pending_count(user) -> int:
    return action_requests_visible_to(user).filter(status=ActionStatus.PENDING, expires_at__gt=timezone.now()).count()


def rule_texts_fired_since(*, tool: Tool, since: datetime) -> set[str]:
    """The rule texts that decided at least one of ``tool``'s requests since ``since`` (any
    version: a rule kept word for word across versions keeps its history)."""
    return set(
        ActionRequest.objects.filter(tool=tool, created_at__gte=since, rule_number__isnull=False)
        .values_list("rule_text", flat=True)
        .distinct()
    )


def policy_findings(*, tool: Tool, fields_source: str, rules_source: str, days: int = 30) -> list[Finding]:
    """The static-analysis findings for a proposed (valid) policy of ``tool``, with the
    never-fired check: judged only on rules of the version in force (a new rule has no history)
    and only when the tool had requests in the last ``days`` days (no traffic, no signal)."""
    current = policy_current(tool=tool)
    fired = live = None
    since = timezone.now() - timedelta(days=days)
    if current is not None and ActionRequest.objects.filter(tool=tool, created_at__gte=since).exists():
        fired = rule_texts_fired_since(tool=tool, since=since)
        live = {rule["text"] for rule in current.rules}
    return policy_text_analyse(
        fields_source=fields_source, rules_source=rules_source, fired_texts=fired, live_texts=live
    )
