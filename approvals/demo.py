"""Demo approvals for ``manage.py seed_demo``: a few pending and decided requests, made through
the real services (so the audit trail and timelines are real). Idempotent: a request is only
made if no request with the same agent, kind and justification exists."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from registry.models import Agent, Tool

from . import services
from .exceptions import ApprovalError
from .models import ApprovalRequest

# agent, kind, requester, payload, justification, decisions [(user, verdict, reason)].
# For tool grants the payload lists candidate tools; the first one not granted yet is used.
DEMO_REQUESTS = [
    (
        "it-helpdesk",
        "tool_grant",
        "owner2",
        {"tool": ["okta.reset_password", "tickets.update", "email.send"], "constraints": {"max_per_hour": 20}},
        "Let the helpdesk agent close tickets it resolved, so humans stop doing it by hand.",
        [("approver", "approve", "Scoped to status and tags only; fine.")],
    ),
    (
        "order-status",
        "tier_change",
        "owner",
        {"risk_tier": 1},
        "Returns now issue store credit: money moves, so tier 1.",
        [],
    ),
    (
        "sales-leads",
        "tool_grant",
        "owner2",
        {"tool": ["crm.read", "kb.search", "contracts.read", "email.draft"], "constraints": {}},
        "Read more context before drafting, to stop generic openers.",
        [("approver", "approve", "Read-only."), ("board", "approve", "Agreed; read-only CRM access.")],
    ),
    (
        "knowledge-search",
        "tier_change",
        "owner2",
        {"risk_tier": 1},
        "It now indexes HR documents; treat it as regulated-data tier 1.",
        [("board", "deny", "Remove the HR source instead; tier 1 reviews are not worth it for search.")],
    ),
]


def seed_approvals(stdout=None) -> None:
    users = {
        u.username: u for u in get_user_model().objects.filter(username__in=["owner", "owner2", "approver", "board"])
    }
    made = 0
    for slug, kind, requester, payload, justification, decisions in DEMO_REQUESTS:
        agent = Agent.objects.filter(slug=slug).first()
        if agent is None or requester not in users:
            continue
        if ApprovalRequest.objects.filter(agent=agent, kind=kind, justification=justification).exists():
            continue
        if kind == "tool_grant":
            # The first candidate tool the deployed version does not have yet.
            deployed = agent.deployed_version
            have = set(deployed.grants.values_list("tool__name", flat=True)) if deployed else set()
            tool = Tool.objects.filter(name__in=payload["tool"]).exclude(name__in=have).order_by("name").first()
            if tool is None:
                continue
            payload = {**payload, "tool": tool.name}
        try:
            req = services.change_request_create(
                agent=agent, kind=kind, payload=payload, requester=users[requester], justification=justification
            )
            for username, verdict, reason in decisions:
                req.refresh_from_db()
                if req.status != "pending":  # a tier-3 agent needs only one approver
                    break
                services.decision_record(
                    request_id=req.pk,
                    approver=users[username],
                    verdict=verdict,
                    reason=reason,
                    payload_hash=req.payload_hash,
                )
        except (ValidationError, ApprovalError) as exc:  # the demo registry changed; skip this one
            if stdout:
                stdout.write(f"  approvals demo: skipped {kind} for {slug}: {exc}")
            continue
        made += 1
    if stdout:
        stdout.write(f"Approvals demo: {made} request(s) created.")
