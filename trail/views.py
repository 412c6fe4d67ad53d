"""Pages of the audit trail: "why was this allowed?" for an action or a change request, and
retention with legal holds. Views parse and call: the joins are in ``why``, the rules in
``services``."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from actions.selectors import action_requests_visible_to
from approvals.selectors import requests_visible_to
from registry.selectors import agents_visible_to

from . import services
from .forms import LegalHoldForm, LegalHoldReleaseForm, RetentionRuleForm
from .selectors import holds_visible_to, last_purge, retention_overview
from .why import why_action, why_change


@login_required
def why_action_page(request, pk: uuid.UUID):
    action = get_object_or_404(
        action_requests_visible_to(request.user).prefetch_related("approval_request__decisions__approver"), pk=pk
    )
    return render(request, "trail/why.html", {"why": why_action(action), "action": action})


@login_required
def why_change_page(request, pk: int):
    req = get_object_or_404(
        requests_visible_to(request.user)
        .select_related("agent__owner_team")
        .prefetch_related("decisions__approver", "checklist__ticked_by"),
        pk=pk,
    )
    return render(request, "trail/why.html", {"why": why_change(req), "req": req})


def _retention_page(request, status: int = 200, **forms):
    context = {
        "lines": retention_overview(),
        "holds": list(holds_visible_to(request.user)),
        "last_purge": last_purge(),
        "can_change": request.user.has_perm(services.RETENTION_PERM),
        "can_hold": request.user.has_perm(services.HOLD_PERM),
        "rule_form": forms.get("rule_form") or RetentionRuleForm(),
        "error": forms.get("error", ""),
    }
    return render(request, "trail/retention.html", context, status=status)


def _require_reader(user) -> None:
    if not user.has_perm("registry.view_agent"):
        raise PermissionDenied("You may not read the retention settings.")


@login_required
def retention(request):
    _require_reader(request.user)
    return _retention_page(request)


@login_required
@require_POST
def retention_update(request):
    if not request.user.has_perm(services.RETENTION_PERM):
        raise PermissionDenied("Only the governance board changes retention periods.")
    form = RetentionRuleForm(request.POST)
    if not form.is_valid():
        return _retention_page(request, status=400, rule_form=form)
    try:
        rule = services.retention_rule_set(
            family=form.cleaned_data["family"], days=form.cleaned_data["days"], actor=request.user
        )
    except ValidationError as exc:
        for name, errors in exc.message_dict.items():
            for message in errors:
                form.add_error(name if name in form.fields else None, message)
        return _retention_page(request, status=400, rule_form=form)
    messages.success(request, f"{rule.get_family_display()} are now kept {rule.days} days.")
    return redirect("trail:retention")


@login_required
@require_POST
def hold_set(request):
    if not request.user.has_perm(services.HOLD_PERM):
        raise PermissionDenied("Only the governance board and auditors set legal holds.")
    form = LegalHoldForm(request.POST)
    if not form.is_valid():
        return _retention_page(request, status=400, error=_form_error(form))
    agent = get_object_or_404(agents_visible_to(request.user), slug=form.cleaned_data["agent"])
    try:
        services.legal_hold_set(agent=agent, actor=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        return _retention_page(request, status=400, error=" ".join(exc.messages))
    messages.success(request, f"{agent.name} is under legal hold: no purge touches its records.")
    return redirect(agent)


@login_required
@require_POST
def hold_release(request, pk: int):
    if not request.user.has_perm(services.HOLD_PERM):
        raise PermissionDenied("Only the governance board and auditors release legal holds.")
    hold = get_object_or_404(holds_visible_to(request.user), pk=pk)
    form = LegalHoldReleaseForm(request.POST)
    if not form.is_valid():
        return _retention_page(request, status=400, error=_form_error(form))
    try:
        services.legal_hold_release(hold_id=hold.pk, actor=request.user, reason=form.cleaned_data["release_reason"])
    except ValidationError as exc:
        return _retention_page(request, status=400, error=" ".join(exc.messages))
    messages.success(request, f"Legal hold on {hold.agent.name} released.")
    return redirect(hold.agent)


def _form_error(form) -> str:
    return " ".join(
        f"{name}: {msg}" if name != "__all__" else msg for name, msgs in form.errors.items() for msg in msgs
    )

