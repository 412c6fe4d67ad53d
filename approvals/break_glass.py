"""Break-glass: the one path by which a single person changes something at once.

In an emergency a superuser may apply an open change request without its approvals. It is one
explicit, audited action with a required reason (:func:`break_glass_apply`): the request is
applied on the spot (its kind's own effect, as if approved), and a retroactive review request
(kind ``break_glass_review``) is raised at the same instant. Two other people must confirm it
(the superuser, as its requester, never can) within :data:`REVIEW_DUE`; until then it is on
everyone's home page, and after that it counts as overdue. Nothing else lets one person apply
a governed change: the admin is read-only for governed fields, and every request kind needs at
least one approver who is not the requester.

Audit: the applied request's status change and the review request are recorded by auditlog
with the superuser as actor; the review's payload keeps the reason, the request and its hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from registry import roles as role_names
from registry.assurance import NO_ASSURANCE, Assurance
from registry.audit import acting_as
from registry.audit_chain import chain_append

from .choices import OPEN_STATUSES, RequestStatus
from .eligibility import step_up_refusal
from .exceptions import ApplyBlocked, RequestRefused
from .kinds import DiffRow, KindSpec, kind_get, register_kind
from .models import ApprovalRequest
from .services import request_create

BREAK_GLASS_REVIEW = "break_glass_review"
REVIEW_DUE = timedelta(hours=24)
# The review stays open (and overdue) well past its due time: an unconfirmed break-glass must
# stay visible, not quietly expire after a day.
REVIEW_TTL = timedelta(days=30)
MAX_REASON = 2000
RUNTIME_ACTION_KIND = "runtime_action"  # agents' runtime actions are decided by their own gate


def break_glass_refusal(req: ApprovalRequest, user) -> str | None:
    """Why ``user`` may not break the glass on ``req`` (None: they may): only an active
    superuser, only on an open change request that has not expired, never on a runtime action
    or on a break-glass review itself."""
    if user is None or not user.is_authenticated or not user.is_active or not user.is_superuser:
        return "Only a superuser may break the glass."
    if req.kind in (RUNTIME_ACTION_KIND, BREAK_GLASS_REVIEW):
        return "Break-glass applies change requests only."
    if req.status not in OPEN_STATUSES:
        return f"This request is {req.get_status_display().lower()}; only an open request can be applied."
    if req.expires_at <= timezone.now():
        return "This request has expired."
    return None


def break_glass_step_up_refusal(assurance: Assurance) -> str | None:
    """Breaking the glass always needs a fresh multi-factor sign-in when step-up is on."""
    needed = "Breaking the glass" if settings.QUORUM_STEP_UP_REQUIRED else None
    return step_up_refusal(needed, assurance)


def break_glass_apply(*, request_id: int, actor, reason: str, assurance: Assurance = NO_ASSURANCE) -> ApprovalRequest:
    """Apply an open change request at once, on ``actor``'s word alone, and raise its
    retroactive review. Returns the review request. Refused (``RequestRefused``, nothing
    changes) without a reason, for anyone but a superuser, without a fresh multi-factor sign-in
    (``assurance``) when step-up is on, or when the effect is blocked (the
    world moved: the kind's own refusal is given). Race: a decision or the expiry task may hold
    the request at the same time; the row lock and the status check under it make the request
    applied exactly once, by whichever came first."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this cannot wait for the approvers."})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": f"Keep the reason under {MAX_REASON} characters."})
    with transaction.atomic(), acting_as(actor):
        req = ApprovalRequest.objects.select_for_update(of=("self",)).select_related("agent").get(pk=request_id)
        refusal = break_glass_refusal(req, actor)
        if refusal:
            raise RequestRefused(refusal, code="permission_denied")
        step_up = break_glass_step_up_refusal(assurance)
        if step_up:
            raise RequestRefused(step_up, code="step_up_required")
        spec = kind_get(req.kind)
        diff = [{"label": r.label, "current": r.current, "proposed": r.proposed} for r in spec.diff(req)]
        try:
            with transaction.atomic():
                spec.apply(req, actor)
        except ApplyBlocked as exc:
            raise RequestRefused(f"Not applied: {exc.message}", code="blocked") from None
        now = timezone.now()
        req.status = RequestStatus.APPLIED
        req.applied_at = now
        req.decided_at = req.decided_at or now
        req.blocked_reason = ""
        req.diff_at_apply = diff
        req.save(update_fields=["status", "applied_at", "decided_at", "blocked_reason", "diff_at_apply", "updated_at"])
        chain_append(
            action="break_glass",
            actor=actor,
            agent=req.agent_id,
            obj=req,
            summary=f"break-glass apply of request #{req.pk} ({req.kind}) by {actor.get_username()}: {reason}",
            payload={
                "request_id": req.pk,
                "kind": req.kind,
                "payload_hash": req.payload_hash,
                "reason": reason,
                "diff": diff,
            },
        )
        return request_create(
            agent=req.agent,
            kind=BREAK_GLASS_REVIEW,
            payload={
                "request_id": req.pk,
                "request_kind": req.kind,
                "payload_hash": req.payload_hash,
                "applied_by": actor.get_username(),
                "reason": reason,
            },
            requester=actor,
            justification=f"Break-glass by {actor.get_username()}: {reason}",
            expires_at=now + REVIEW_TTL,
        )


# --- the review kind ------------------------------------------------------------------------------


def _review_normalize(agent, payload, version):
    keys = {"request_id", "request_kind", "payload_hash", "applied_by", "reason"}
    if not isinstance(payload, dict) or set(payload) != keys:
        raise ValidationError({"payload": "A break-glass review is raised by break-glass only."})
    return {k: payload[k] for k in sorted(keys)}, None


def _review_apply(request, actor):
    """Confirming changes nothing: the change was applied when the glass was broken."""


def _review_diff(request):
    p = request.payload
    return [
        DiffRow("Applied at once", f"request #{p['request_id']} ({p['request_kind']})", f"by {p['applied_by']}"),
        DiffRow("Reason given", "", p["reason"]),
    ]


register_kind(
    KindSpec(
        BREAK_GLASS_REVIEW,
        "Break-glass review",
        _review_normalize,
        _review_apply,
        _review_diff,
        min_approvals=2,
        # Nobody raises it by hand: only break_glass_apply does (through request_create).
        request_perms=("break_glass_review_is_raised_by_break_glass_only",),
        eligible_roles=(role_names.APPROVER, role_names.GOVERNANCE_BOARD),
        ttl=REVIEW_TTL,
        by_hand=False,
        # The review of a fleet-wide change (the fleet re-enable) has no agent either; its policy
        # is then the strictest tier's.
        fleet_wide=True,
        policy_tier=lambda agent, payload: int(agent.risk_tier) if agent is not None else 1,
    )
)


# --- reading ----------------------------------------------------------------------------------------


def break_glass_reviews_open() -> QuerySet[ApprovalRequest]:
    """Retroactive reviews not yet confirmed by two people, oldest first."""
    return (
        ApprovalRequest.objects.filter(kind=BREAK_GLASS_REVIEW, status__in=OPEN_STATUSES)
        .select_related("agent", "requester")
        .order_by("created_at")
    )


def review_is_overdue(review: ApprovalRequest, now: datetime | None = None) -> bool:
    return review.status in OPEN_STATUSES and review.created_at + REVIEW_DUE <= (now or timezone.now())


def break_glass_reviews_overdue_count(now: datetime | None = None) -> int:
    """Open reviews past their 24 hours."""
    return break_glass_reviews_open().filter(created_at__lte=(now or timezone.now()) - REVIEW_DUE).count()


@dataclass
class ReviewLine:
    review: ApprovalRequest
    due_at: datetime
    overdue: bool


def break_glass_home_panel(request):
    """Home, for everyone signed in: every break-glass still awaiting its two confirmations."""
    now = timezone.now()
    reviews = list(break_glass_reviews_open())
    if not reviews:
        return None
    lines = [ReviewLine(r, r.created_at + REVIEW_DUE, review_is_overdue(r, now)) for r in reviews]
    return {
        "template": "approvals/panels/break_glass.html",
        "lines": lines,
        "overdue_count": sum(1 for line in lines if line.overdue),
    }
