"""The break-glass page: a superuser applies an open change request at once, with a reason.
Parsing only; the rule is :mod:`approvals.break_glass`."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from registry.assurance import current_assurance

from .break_glass import MAX_REASON, REVIEW_DUE, break_glass_apply, break_glass_refusal, break_glass_step_up_refusal
from .exceptions import ApprovalError
from .models import ApprovalRequest
from .selectors import requests_visible_to


class BreakGlassForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_REASON,
        help_text="Required, and kept with the audit trail: why this cannot wait for the approvers.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def break_glass(request, pk: int):
    req: ApprovalRequest = get_object_or_404(requests_visible_to(request.user).select_related("agent"), pk=pk)
    refusal = break_glass_refusal(req, request.user)
    if refusal and not request.user.is_superuser:
        raise PermissionDenied(refusal)
    form = BreakGlassForm(request.POST or None)
    status = 200
    step_up = None if refusal else break_glass_step_up_refusal(current_assurance(request))
    if request.method == "POST" and refusal is None and form.is_valid():
        try:
            review = break_glass_apply(
                request_id=req.pk,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                assurance=current_assurance(request),
            )
        except ValidationError as exc:
            for field_name, errors in exc.message_dict.items():
                form.add_error(field_name if field_name in form.fields else None, errors)
        except ApprovalError as exc:
            refusal = exc.message
        else:
            messages.warning(
                request, f"Applied at once. Two other people must confirm review #{review.pk} within 24 hours."
            )
            return redirect(review)
    if request.method == "POST":
        status = 409 if refusal else 400
    context = {
        "req": req,
        "form": form,
        "refusal": refusal,
        "step_up": step_up,
        "step_up_next": request.path,
        "due_hours": int(REVIEW_DUE.total_seconds() // 3600),
    }
    return render(request, "approvals/break_glass.html", context, status=status)
