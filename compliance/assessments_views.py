"""Impact-assessment pages: an agent's FRIA and DPIA versions, write a new one, read one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from approvals.exceptions import RequestRefused
from registry.permissions import user_can_edit_agent
from registry.selectors import agents_visible_to

from . import assessments as rules
from .assessments_forms import AssessmentForm
from .choices import AssessmentKind
from .models import ImpactAssessment


@login_required
def agent_assessments(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    context = {
        "agent": agent,
        "current": {kind: rules.assessment_current(agent, kind) for kind in AssessmentKind.values},
        "kinds": AssessmentKind.choices,
        "assessments": ImpactAssessment.objects.filter(agent=agent).select_related("author", "request"),
        "can_edit": user_can_edit_agent(request.user, agent),
        "fria_required": agent.risk_tier == 1,
    }
    return render(request, "compliance/assessments.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def assessment_create(request, slug: str, kind: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    if kind not in rules.QUESTIONS:
        raise Http404("No such assessment kind.")
    if not user_can_edit_agent(request.user, agent):
        raise PermissionDenied("You may not write impact assessments for this agent.")
    latest = ImpactAssessment.objects.filter(agent=agent, kind=kind).order_by("-version").first()
    initial = dict(latest.answers) if latest else {}
    form = AssessmentForm(request.POST or None, kind=kind, initial=initial)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            assessment = rules.assessment_submit(
                agent=agent,
                kind=kind,
                answers=form.answers(),
                valid_until=form.cleaned_data["valid_until"],
                author=request.user,
                justification=form.cleaned_data["justification"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        except RequestRefused as exc:
            error = str(exc)
        else:
            messages.success(request, f"{kind.upper()} version {assessment.version} sent for approval (two people).")
            return redirect(assessment)
    status = 400 if form.errors else (409 if error else 200)
    context = {"agent": agent, "form": form, "kind": kind, "kind_label": AssessmentKind(kind).label, "error": error}
    return render(request, "compliance/assessment_form.html", context, status=status)


@login_required
def assessment_detail(request, pk: int):
    assessment = get_object_or_404(
        ImpactAssessment.objects.select_related("agent", "author", "request"),
        pk=pk,
        agent__in=agents_visible_to(request.user),
    )
    rows = [(label, assessment.answers.get(key, "")) for key, label in rules.QUESTIONS[assessment.kind]]
    return render(request, "compliance/assessment_detail.html", {"a": assessment, "rows": rows})
