"""Approval pages: the queue, the request page, and the inline (HTMX) actions on it.

Every action is a plain POST form first; with HTMX the same view answers with the request's
live fragment instead of a redirect. Lookups go through ``requests_visible_to`` (another team's
agent is a 404); the services decide who may act and answer refusals in words."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from registry.assurance import current_assurance
from registry.selectors import agents_visible_to

from . import services
from .choices import RequestStatus, Verdict
from .exceptions import ApprovalError
from .forms import ChangeRequestForm, DecisionForm, TickForm
from .kinds import DiffRow, kind_get, kinds_all
from .models import ApprovalRequest
from .selectors import (
    request_timeline,
    requests_awaiting,
    requests_recent_history,
    requests_requested_by,
    requests_visible_to,
)

# How a refusal maps to HTTP: bad input 400, not yours 403, lost a race or stale 409.
REFUSAL_STATUS = {
    "invalid": 400,
    "reason_required": 400,
    "evidence_required": 400,
    "permission_denied": 403,
    "own_request": 403,
    "not_eligible": 403,
    "step_up_required": 403,
    "not_found": 404,
}


def _refusal_status(exc: ApprovalError) -> int:
    return REFUSAL_STATUS.get(exc.code, 409)


@login_required
def queue(request):
    user = request.user
    context = {
        "awaiting": requests_awaiting(user),
        "mine": requests_requested_by(user)[:50],
        "history": requests_recent_history(user),
    }
    return render(request, "approvals/queue.html", context)


def _visible_request(request, pk: int) -> ApprovalRequest:
    return get_object_or_404(requests_visible_to(request.user).select_related("agent__owner_team"), pk=pk)


def _request_diff(req: ApprovalRequest) -> tuple[list[DiffRow], bool]:
    """What the change does. Once applied, today's state already includes it, so the page shows
    the comparison kept when it was applied (``True``); before that, or for a request applied
    before such snapshots were kept, it compares with today's state (``False``)."""
    if req.status == RequestStatus.APPLIED and req.diff_at_apply is not None:
        return [DiffRow(row["label"], row["current"], row["proposed"]) for row in req.diff_at_apply], True
    try:
        return kind_get(req.kind).diff(req), False
    except Exception:  # noqa: BLE001 - a version deleted since; the payload below still says it all
        return [], False


def request_context(request, req: ApprovalRequest, *, decision_form=None, tick_errors=None, error=None) -> dict:
    """Everything the request page (and its live fragment) shows, for this viewer."""
    user = request.user
    decisions = list(req.decisions.select_related("approver"))
    tally = services.approvals_tally(req, decisions)
    refusal = services.approver_refusal(req, user)
    already = any(d.approver_id == user.pk for d in decisions)
    can_decide = req.status == RequestStatus.PENDING and refusal is None and not already
    checklist = []
    for item in req.checklist.select_related("ticked_by"):
        tick_refusal = None if item.done or not req.is_open else services.checklist_tick_refusal(req, user, item.key)
        checklist.append(
            {
                "item": item,
                "can_tick": not item.done and req.is_open and tick_refusal is None,
                "error": (tick_errors or {}).get(item.key),
            }
        )
    diff, diff_is_snapshot = _request_diff(req)
    if decision_form is None:
        decision_form = DecisionForm(initial={"payload_hash": req.payload_hash})
    return {
        "req": req,
        "tally": tally,
        "decisions": decisions,
        "diff": diff,
        "diff_is_snapshot": diff_is_snapshot,
        "checklist": checklist,
        "checklist_open": sum(1 for c in checklist if not c["item"].done),
        "timeline": request_timeline(req),
        "can_decide": can_decide,
        "why_not": (
            None
            if can_decide or req.status != RequestStatus.PENDING
            else ("You have already decided on this request." if already else refusal)
        ),
        "decision_form": decision_form,
        # Deciding needs a fresh second factor this session lacks: the page offers the step-up.
        "step_up": can_decide and services.decision_step_up_refusal(req, current_assurance(request)),
        "can_withdraw": req.is_open and req.requester_id == user.pk,
        "can_apply": req.status == RequestStatus.APPROVED
        and bool(req.blocked_reason)
        and (req.requester_id == user.pk or refusal is None),
        "policy_text": services.policy_describe(
            req.policy_snapshot, req.agent.owner_team.name if req.agent_id else "the owning team"
        ),
        "error": error,
        "gates_preview": services.apply_gates_preview(req),
    }


def _render_request(request, req, status=200, **kwargs):
    req.refresh_from_db()
    context = request_context(request, req, **kwargs)
    template = "approvals/htmx/request_live.html" if request.htmx else "approvals/request_detail.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def request_detail(request, pk: int):
    return _render_request(request, _visible_request(request, pk))


@login_required
@require_POST
def decide(request, pk: int):
    req = _visible_request(request, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _render_request(request, req, status=400, decision_form=form)
    try:
        services.decision_record(
            request_id=req.pk,
            approver=request.user,
            verdict=form.cleaned_data["verdict"],
            reason=form.cleaned_data["reason"],
            payload_hash=form.cleaned_data["payload_hash"],
            assurance=current_assurance(request),
        )
    except ApprovalError as exc:
        return _render_request(request, req, status=_refusal_status(exc), decision_form=form, error=exc.message)
    req.refresh_from_db()
    verb = "approval" if form.cleaned_data["verdict"] == Verdict.APPROVE else "denial"
    messages.success(request, f"Your {verb} is recorded. Request is {req.get_status_display().lower()}.")
    if request.htmx:
        return _render_request(request, req)
    return redirect(req)


@login_required
@require_POST
def tick(request, pk: int, key: str):
    req = _visible_request(request, pk)
    form = TickForm(request.POST)
    if not form.is_valid():
        return _render_request(request, req, status=400, tick_errors={key: form.errors["evidence"][0]})
    try:
        services.checklist_item_tick(
            request_id=req.pk, key=key, user=request.user, evidence=form.cleaned_data["evidence"]
        )
    except ApprovalError as exc:
        return _render_request(request, req, status=_refusal_status(exc), tick_errors={key: exc.message})
    if request.htmx:
        return _render_request(request, req)
    messages.success(request, "Checklist item ticked.")
    return redirect(req)


@login_required
@require_POST
def withdraw(request, pk: int):
    req = _visible_request(request, pk)
    try:
        services.request_withdraw(request_id=req.pk, actor=request.user)
    except ApprovalError as exc:
        return _render_request(request, req, status=_refusal_status(exc), error=exc.message)
    if request.htmx:
        return _render_request(request, req)
    messages.success(request, "Request withdrawn.")
    return redirect(req)


@login_required
@require_POST
def apply_now(request, pk: int):
    req = _visible_request(request, pk)
    try:
        req = services.request_apply(request_id=req.pk, actor=request.user)
    except ApprovalError as exc:
        return _render_request(request, req, status=_refusal_status(exc), error=exc.message)
    if req.status != RequestStatus.APPLIED:
        return _render_request(request, req, status=409, error="Still blocked: " + req.blocked_reason)
    if request.htmx:
        return _render_request(request, req)
    messages.success(request, "Applied.")
    return redirect(req)


@login_required
@require_http_methods(["GET", "POST"])
def request_start(request, slug: str, kind: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    try:
        spec = kind_get(kind)
    except ValidationError:
        raise Http404("No such request kind.") from None
    if (
        spec not in kinds_all()
        or not spec.offered_per_agent
        or not services.user_may_request(request.user, agent, kind)
    ):
        raise PermissionDenied(f"You may not request changes to {agent.name}.")
    form = ChangeRequestForm(request.POST or None, agent=agent, kind=kind)
    if request.method == "GET":
        # "Request change" links (the agent edit form) pre-fill the proposed values: ?risk_tier=3.
        form.initial.update(
            {
                name: field.widget.value_from_datadict(request.GET, {}, form.add_prefix(name))
                for name, field in form.fields.items()
                if name in request.GET
            }
        )
    if request.method == "POST" and form.is_valid():
        try:
            req = services.change_request_create(
                agent=agent,
                kind=kind,
                payload=form.payload(),
                requester=request.user,
                justification=form.cleaned_data["justification"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except ApprovalError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Request #{req.pk} created; the approvers have been told.")
            return redirect(req)
    status = 400 if form.errors else 200
    return render(request, "approvals/request_form.html", {"form": form, "agent": agent, "spec": spec}, status=status)
