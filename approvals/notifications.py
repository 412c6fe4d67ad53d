"""Notifications of the approval engine: who is told what. Sent from Celery tasks, after commit,
through ``registry.channels.notify`` (e-mail to the people named, one message each, and the alert
channels that take ``approval_request`` / ``approval_outcome`` alerts)."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from registry.channels import Alert, notify

from .choices import RequestStatus
from .models import ApprovalRequest
from .selectors import eligible_approvers


def _url(req: ApprovalRequest) -> str:
    return settings.QUORUM_BASE_URL.rstrip("/") + req.get_absolute_url()


def request_created_send(*, request_id: int) -> int:
    """Every eligible approver with an e-mail address hears of a new request, with its link."""
    req = ApprovalRequest.objects.select_related("agent", "requester").filter(pk=request_id).first()
    if req is None or req.status != RequestStatus.PENDING:
        return 0
    recipients = [u.email for u in eligible_approvers(req) if u.email]
    if not recipients:
        return 0
    body = render_to_string("approvals/email/request_created.txt", {"req": req, "url": _url(req)})
    notify(
        Alert(
            kind="approval_request",
            # A revised request (new payload) is a new thing to decide: told again.
            dedup_key=f"approval_request:{req.pk}:{req.payload_hash}",
            title=f"Approval needed: {req.kind_label} for {req.target_name} (#{req.pk})",
            body=body,
            severity="info",
            agent=req.agent,
            recipients=tuple(recipients),
        )
    )
    return len(recipients)


def request_outcome_send(*, request_id: int) -> int:
    """The requester hears the outcome: applied, denied, expired, or approved but blocked."""
    req = ApprovalRequest.objects.select_related("agent", "requester").filter(pk=request_id).first()
    if req is None or req.requester is None or not req.requester.email:
        return 0
    outcome = "approved, not applied yet" if req.status == RequestStatus.APPROVED else req.get_status_display().lower()
    body = render_to_string(
        "approvals/email/request_outcome.txt",
        {"req": req, "url": _url(req), "outcome": outcome, "decisions": req.decisions.select_related("approver")},
    )
    notify(
        Alert(
            kind="approval_outcome",
            dedup_key=f"approval_outcome:{req.pk}:{req.status}",
            title=f"{req.kind_label} for {req.target_name} (#{req.pk}): {outcome}",
            body=body,
            severity="info",
            agent=req.agent,
            recipients=(req.requester.email,),
        )
    )
    return 1
