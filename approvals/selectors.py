"""Approval reads: what I may see, what awaits me, who may decide, and a request's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from registry.models import Agent
from registry.permissions import user_can_approve_for_agent
from registry.selectors import agents_visible_to, user_display_name

from .choices import ChecklistKey, RequestStatus, Verdict, checklist_keys_for_tier
from .eligibility import decide_refusal
from .kinds import kinds_all
from .models import ApprovalRequest, ChecklistItem, Decision
from .services import policy_describe, policy_requirements


def requests_visible_to(user) -> QuerySet[ApprovalRequest]:
    """Whoever may see the agent may see its requests (another team's agent stays a 404);
    fleet-wide requests (no agent) concern every agent, so whoever sees the queue sees them."""
    return ApprovalRequest.objects.filter(
        Q(agent__in=agents_visible_to(user).values("pk")) | Q(agent__isnull=True)
    ).select_related("agent", "requester", "version")


def _agents_user_may_approve(user) -> QuerySet[Agent] | None:
    """None = every agent (global approve_agent)."""
    if user.has_perm("registry.approve_agent"):
        return None
    return get_objects_for_user(user, "registry.approve_agent", klass=Agent, accept_global_perms=False)


def user_approves_any_agent(user) -> bool:
    """Does this person hold ``approve_agent`` anywhere (globally or on some agent)?"""
    approvable = _agents_user_may_approve(user)
    return approvable is None or approvable.exists()


def requests_awaiting(user) -> list[ApprovalRequest]:
    """Pending requests this user may decide and has not yet decided: the rule of
    :func:`approvals.eligibility.decide_refusal`, applied to a whole queue at once."""
    if not user.is_authenticated or not user.is_active:
        return []
    roles = set(user.groups.values_list("name", flat=True))
    if not roles:
        return []
    # A pre-filter only (the rule is applied below): the role test in SQL as well (JSON
    # containment), so a user no pending request names (an executive, an auditor) costs one
    # cheap query on every page's nav badge.
    eligible = Q()
    for role in roles:
        eligible |= Q(policy_snapshot__contains={"eligible_roles": [role]})
    candidates = list(
        ApprovalRequest.objects.filter(status=RequestStatus.PENDING)
        .filter(eligible)
        .exclude(requester=user)
        .exclude(decisions__approver=user)
        .select_related("agent", "requester")
        .order_by("expires_at")
    )
    if not candidates:
        return []
    approvable = _agents_user_may_approve(user)
    approvable_ids = None if approvable is None else set(approvable.values_list("pk", flat=True))
    return [
        r
        for r in candidates
        if decide_refusal(
            user,
            roles=roles,
            may_approve_agent=lambda r=r: approvable_ids is None or r.agent_id in approvable_ids,
            requester_id=r.requester_id,
            eligible_roles=r.policy_snapshot.get("eligible_roles", []),
            agent_name=r.target_name,
        )
        is None
    ]


def awaiting_count(user) -> int:
    """The navigation badge: how many requests wait for my decision."""
    return len(requests_awaiting(user))


def requests_requested_by(user) -> QuerySet[ApprovalRequest]:
    return requests_visible_to(user).filter(requester=user).order_by("-created_at")


def requests_recent_history(user, limit: int = 30) -> QuerySet[ApprovalRequest]:
    return requests_visible_to(user).exclude(status__in=[RequestStatus.PENDING]).order_by("-updated_at")[:limit]


def requests_open_for_agent(agent: Agent) -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.filter(
        agent=agent, status__in=[RequestStatus.PENDING, RequestStatus.APPROVED]
    ).select_related("requester")


def eligible_approvers(req: ApprovalRequest) -> list:
    """People who may decide this request now (the rule of
    :func:`approvals.eligibility.decide_refusal`), less those who already decided."""
    eligible_roles = req.policy_snapshot.get("eligible_roles", [])
    candidates = (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=eligible_roles)  # a pre-filter; the rule is below
        .exclude(pk__in=req.decisions.values("approver"))
        .distinct()
        .order_by("username")
        .prefetch_related("groups")
    )
    return [
        u
        for u in candidates
        if decide_refusal(
            u,
            roles={g.name for g in u.groups.all()},
            may_approve_agent=lambda u=u: user_can_approve_for_agent(u, req.agent),
            requester_id=req.requester_id,
            eligible_roles=eligible_roles,
            agent_name=req.target_name,
        )
        is None
    ]


@dataclass(frozen=True)
class TimelineEvent:
    when: datetime
    who: str
    text: str
    detail: str = ""
    tone: str = "secondary"


_STATUS_WORDS = {
    RequestStatus.APPROVED: ("approved (enough approvals)", "success"),
    RequestStatus.APPLIED: ("applied the change", "success"),
    RequestStatus.DENIED: ("closed the request as denied", "danger"),
    RequestStatus.WITHDRAWN: ("withdrew the request", "secondary"),
    RequestStatus.EXPIRED: ("expired", "warning"),
}


def request_timeline(req: ApprovalRequest) -> list[TimelineEvent]:
    """The request's audit trail in words, oldest first: created, payload revised, each decision,
    each checklist tick, each status change (and why it is blocked)."""
    ct = ContentType.objects.get_for_models(ApprovalRequest, Decision, ChecklistItem)
    decision_ids = list(req.decisions.values_list("pk", flat=True))
    item_ids = list(req.checklist.values_list("pk", flat=True))
    entries = (
        LogEntry.objects.filter(
            Q(content_type=ct[ApprovalRequest], object_id=req.pk)
            | Q(content_type=ct[Decision], object_id__in=decision_ids)
            | Q(content_type=ct[ChecklistItem], object_id__in=item_ids, action=LogEntry.Action.UPDATE)
        )
        .select_related("actor")
        .order_by("timestamp", "pk")
    )
    decisions = {d.pk: d for d in req.decisions.select_related("approver")}
    items = {i.pk: i for i in req.checklist.all()}
    events: list[TimelineEvent] = []
    for entry in entries:
        model = entry.content_type_id
        changes = entry.changes_dict or {}
        if model == ct[ApprovalRequest].pk:
            if entry.action == LogEntry.Action.CREATE:
                events.append(
                    TimelineEvent(
                        entry.timestamp,
                        user_display_name(entry.actor),
                        f"requested: {req.kind_label}",
                        req.justification,
                        "primary",
                    )
                )
                continue
            if "payload_hash" in changes:
                events.append(
                    TimelineEvent(
                        entry.timestamp,
                        user_display_name(entry.actor),
                        "changed the payload; earlier approvals no longer count",
                        tone="warning",
                    )
                )
            if "status" in changes:
                new = changes["status"][1]
                words, tone = _STATUS_WORDS.get(new, (f"moved to {new}", "secondary"))
                events.append(TimelineEvent(entry.timestamp, user_display_name(entry.actor), words, tone=tone))
            if "blocked_reason" in changes and changes["blocked_reason"][1] not in ("", "None", None):
                events.append(
                    TimelineEvent(entry.timestamp, "system", "not applied yet", changes["blocked_reason"][1], "warning")
                )
        elif model == ct[Decision].pk and entry.action == LogEntry.Action.CREATE:
            d = decisions.get(int(entry.object_id))
            if d:
                verb = "approved" if d.verdict == Verdict.APPROVE else "denied"
                events.append(
                    TimelineEvent(
                        d.decided_at,
                        user_display_name(entry.actor) if entry.actor else user_display_name(d.approver),
                        verb,
                        d.reason,
                        "success" if verb == "approved" else "danger",
                    )
                )
        elif model == ct[ChecklistItem].pk and "done" in changes:
            i = items.get(int(entry.object_id))
            if i and i.done:
                who = (
                    user_display_name(entry.actor)
                    if entry.actor
                    else ("system (automatic)" if i.automatic else user_display_name(i.ticked_by))
                )
                events.append(
                    TimelineEvent(entry.timestamp, who, f"ticked “{i.get_key_display()}”", i.evidence, "info")
                )
    return events


def agent_policy_lines(agent: Agent) -> list[tuple[str, str]]:
    """The agent card's governance lines in words, read from the ``ApprovalPolicy`` rows the
    engine itself reads for the agent's tier (so the card never restates the policy): what a
    change needs, then every kind a person may request that needs more, and the go-live
    checklist."""
    team = agent.owner_team.name
    offered = [
        spec
        for spec in kinds_all()
        # kinds only an agent raises (runtime actions) follow their tool's policy; fleet-wide and
        # system-raised kinds (fleet re-enable, break-glass review) are not this agent's to request
        if spec.request_perms and spec.offered_per_agent
    ]
    tier = int(agent.risk_tier)
    described = [(spec.label, policy_describe(policy_requirements(spec=spec, tier=tier), team)) for spec in offered]
    if not described:
        return []
    # "Changes need" is what the tier's policy asks of a kind without a floor of its own; kinds
    # whose floor is two people by design (impact assessments, rollout plans, ...) are listed
    # after it, however many of them there are.
    texts = [text for spec, (_, text) in zip(offered, described, strict=True) if spec.min_approvals <= 1]
    texts = texts or [text for _, text in described]
    usual = max(texts, key=texts.count)  # the most common requirement; ties: the first kind's
    lines = [("Changes need", usual)]
    lines += [(label, text) for label, text in described if text != usual]
    checklist = [ChecklistKey(key).label for key in checklist_keys_for_tier(int(agent.risk_tier))]
    lines.append(("Go-live checklist", ", ".join(checklist)))
    return lines


def requests_decided_since(*, since: datetime) -> int:
    """How many requests were decided (approved, denied or applied) since ``since``: is the
    approval workflow in use?"""
    decided = (RequestStatus.APPROVED, RequestStatus.DENIED, RequestStatus.APPLIED)
    return ApprovalRequest.objects.filter(decided_at__gte=since, status__in=decided).count()
