"""Reads of the action gate: an action request as the agent sees it, what people may see,
policy blocks per agent for the reports, and the policy versions an agent's controls show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from approvals.services import approvals_tally
from registry.budgets import budget_day_spend, budget_month_spend, budget_state
from registry.choices import VersionState
from registry.models import Agent, Tool, ToolGrant
from registry.selectors import agents_visible_to

from .choices import BLOCK_SOURCES, ActionStatus, DecisionSource
from .models import ActionPolicyVersion, ActionRequest, PolicyShadow, ShadowDecision
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


def budget_controls_extra(agent: Agent) -> dict:
    """A controls extra: the agent's budget caps and ceilings, whether the hard cap (or the soft one)
    or a daily ceiling is reached, with the action the gate then applies, so the agent can degrade
    (a smaller model, fewer steps). The spend itself is left out: it would change the ETag on every
    charge (the reached flags change only when one is crossed, or the day or month turns)."""
    now = timezone.now()
    day_usd, day_steps = (Decimal("0"), 0)
    if agent.budget_day_cost_usd or agent.budget_day_steps:  # the read only when it can matter
        day_usd, day_steps = budget_day_spend(agent=agent, now=now)
    state = budget_state(
        agent=agent, month_usd=budget_month_spend(agent=agent, now=now), now=now, day_usd=day_usd, day_steps=day_steps
    )
    soft = agent.monthly_budget_usd
    state["soft_cap_reached"] = bool(soft) and Decimal(state.pop("spend_month_usd")) >= soft
    return {"budget": state}


def budget_for_card(agent: Agent) -> dict:
    """The budget as the agent card shows it: caps, this month's and today's spend, reached or not."""
    now = timezone.now()
    day_usd, day_steps = budget_day_spend(agent=agent, now=now)
    state = budget_state(
        agent=agent, month_usd=budget_month_spend(agent=agent, now=now), now=now, day_usd=day_usd, day_steps=day_steps
    )
    state["spend_today_usd"] = str(day_usd.quantize(Decimal("0.01")))
    state["steps_today"] = day_steps
    state["zone"] = settings.ACTIONS_CONTEXT_TIME_ZONE
    return state


# --- the gate's own figures for the reports (issue 18, item 6) ------------------------------------


@dataclass
class GateFigures:
    """What the gate itself did for one agent in a period, beside what the agent self-reports:
    automatic blocks (a deny rule, a grant, the kill switch, a budget cap, never a person's
    denial), decisions sent to people and how long they waited for a human."""

    actions: int = 0
    gate_blocks: int = 0
    approval_required: int = 0
    decided_by_people: int = 0
    wait_seconds_total: float = 0.0

    @property
    def approval_required_pct(self) -> Decimal | None:
        return (
            None
            if not self.actions
            else (Decimal(100) * self.approval_required / self.actions).quantize(Decimal("0.1"))
        )

    @property
    def mean_wait_minutes(self) -> Decimal | None:
        if not self.decided_by_people:
            return None
        return (Decimal(self.wait_seconds_total) / self.decided_by_people / 60).quantize(Decimal("0.1"))


def gate_figures_by_agent(*, start: datetime, end: datetime, agent_ids: list[int]) -> dict[int, GateFigures]:
    """Per agent id, the gate's figures for requests created in ``[start, end)``: one grouped query
    (the ``(agent, -created_at)`` index). Waiting time counts requests people (or the clock) closed."""
    blocked = Q(status=ActionStatus.DENIED, source__in=BLOCK_SOURCES)
    asked_people = Q(required_approvals__isnull=False)
    closed = asked_people & Q(decided_at__isnull=False)
    rows = (
        ActionRequest.objects.filter(agent_id__in=agent_ids, created_at__gte=start, created_at__lt=end)
        .values("agent_id")
        .annotate(
            actions=Count("pk"),
            gate_blocks=Count("pk", filter=blocked),
            approval_required=Count("pk", filter=asked_people),
            decided_by_people=Count("pk", filter=closed),
            wait=Sum(F("decided_at") - F("created_at"), filter=closed),
        )
    )
    return {
        row["agent_id"]: GateFigures(
            actions=row["actions"],
            gate_blocks=row["gate_blocks"],
            approval_required=row["approval_required"],
            decided_by_people=row["decided_by_people"],
            wait_seconds_total=row["wait"].total_seconds() if row["wait"] else 0.0,
        )
        for row in rows
    }


def approval_queue_depth(*, agent_ids: list[int], now: datetime | None = None) -> int:
    """Runtime actions waiting for people right now (pending and not yet expired)."""
    return ActionRequest.objects.filter(
        agent_id__in=agent_ids, status=ActionStatus.PENDING, expires_at__gt=now or timezone.now()
    ).count()


@dataclass(frozen=True)
class NearMiss:
    """Gate denials of actions on tier-3 and tier-4 tools for one tool and rule: what the gate
    stopped that would have been a high-risk write or a production control."""

    tool: str
    tier: int
    rule: str
    count: int
    per_thousand: Decimal | None


def near_miss_register(*, start: datetime, end: datetime, agent_ids: list[int]) -> tuple[list[NearMiss], int]:
    """The near-miss register: automatic denials on tier 3-4 tools in ``[start, end)``, by tool and
    rule (the rule's text, or the reason for a grant, kill switch or budget denial), with the count
    per 1,000 action requests of the same agents in the period. Returns ``(rows, actions)``."""
    period = ActionRequest.objects.filter(agent_id__in=agent_ids, created_at__gte=start, created_at__lt=end)
    total = period.count()
    rows = (
        period.filter(status=ActionStatus.DENIED, source__in=BLOCK_SOURCES, tool__action_tier__gte=3)
        .values("tool__name", "tool__action_tier", "rule_number", "rule_text", "reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "tool__name", "rule_number")
    )
    merged: dict[tuple, int] = {}
    for row in rows:
        rule = f"rule {row['rule_number']}: {row['rule_text']}" if row["rule_number"] else row["reason"]
        key = (row["tool__name"], row["tool__action_tier"], rule[:200])
        merged[key] = merged.get(key, 0) + row["n"]
    register = [
        NearMiss(tool, tier, rule, n, (Decimal(1000) * n / total).quantize(Decimal("0.1")) if total else None)
        for (tool, tier, rule), n in sorted(merged.items(), key=lambda item: (-item[1], item[0]))
    ]
    return register, total


SHADOW_TABLE_SQL = """
SELECT (created_at AT TIME ZONE 'UTC')::date, active_status, active_rule_number, status, rule_number,
       required_approvals, count(*), (array_agg(action_id::text ORDER BY created_at DESC))[1:%s]
FROM actions_shadowdecision
WHERE shadow_id = %s AND NOT agreed AND created_at >= %s
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY 1 DESC, 7 DESC
"""


def shadow_running(*, tool: Tool) -> PolicyShadow | None:
    return (
        PolicyShadow.objects.filter(tool=tool, ended_at__isnull=True)
        .select_related("base_version", "started_by", "change_request")
        .first()
    )


def shadow_disagreements(*, shadow: PolicyShadow, days: int = 14, examples: int = 3, user=None) -> dict:
    """The disagreement table of a shadow over the last ``days`` days (UTC): per day, per (gate's
    decision and rule → shadow's decision and rule), the count and the latest examples; the
    totals; and the same counts by rule over the whole window. Counts cover every agent; with
    ``user``, examples only from the agents they may see. Three queries."""
    since = timezone.now() - timedelta(days=days)
    totals = ShadowDecision.objects.filter(shadow=shadow, created_at__gte=since).aggregate(
        evaluated=Count("pk"), disagreed=Count("pk", filter=Q(agreed=False))
    )
    with connection.cursor() as cursor:
        cursor.execute(SHADOW_TABLE_SQL, [examples, shadow.pk, since])
        raw = cursor.fetchall()
    rows = [
        {
            "day": day,
            "active_status": active_status,
            "active_rule": active_rule,
            "status": status,
            "rule": rule,
            "approvals": approvals,
            "count": count,
            "examples": ids,
        }
        for day, active_status, active_rule, status, rule, approvals, count, ids in raw
    ]
    if user is not None:
        shown = {i for row in rows for i in row["examples"]}
        visible = {str(pk) for pk in action_requests_visible_to(user).filter(pk__in=shown).values_list("pk", flat=True)}
        for row in rows:
            row["examples"] = [i for i in row["examples"] if i in visible]
    by_rule: dict[tuple, int] = {}
    for row in rows:
        key = (row["active_rule"], row["rule"], row["active_status"], row["status"])
        by_rule[key] = by_rule.get(key, 0) + row["count"]
    return {
        **totals,
        "days": days,
        "rows": rows,
        "by_rule": [
            {"active_rule": k[0], "rule": k[1], "active_status": k[2], "status": k[3], "count": n}
            for k, n in sorted(by_rule.items(), key=lambda item: -item[1])
        ],
    }
