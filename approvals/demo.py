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

# agent, kind, requester, payload (None = pick an ungranted tool), justification, decisions [(user, verdict, reason)]
DEMO_REQUESTS = [
    (
        "it-helpdesk",
        "tool_grant",
        "owner2",
        {"tool": "tickets.update", "constraints": {"fields": ["status", "tags"]}},
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
        {"tool": "crm.read", "constraints": {}},
        "Read the account before drafting, to stop generic openers.",
        [("approver", "approve", "Read-only."), ("board", "approve", "Agreed; read-only CRM access.")],
    ),
    (
        "knowledge-search",
        "tier_change",
        "owner2",
        {"risk_tier": 3},
        "Only internal, public-to-staff documents: tier 3 is enough.",
        [("board", "deny", "It indexes HR documents too; stays tier 2 until that source is removed.")],
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
        if kind == "tool_grant" and not Tool.objects.filter(name=payload["tool"]).exists():
            continue
        try:
            req = services.change_request_create(
                agent=agent, kind=kind, payload=payload, requester=users[requester], justification=justification
            )
            for username, verdict, reason in decisions:
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
