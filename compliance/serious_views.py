"""The serious-incident page: the Art. 73 clock, classification, drafted reports and their export."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from incidents.permissions import user_can_respond
from incidents.selectors import incidents_visible_to

from . import serious as services
from .models import ReportStage, SeriousIncident
from .workbench_forms import ClassifySeriousForm


def _incident(request, pk: int):
    if not request.user.has_perm("incidents.view_incident"):
        raise PermissionDenied("You may not read incidents.")
    return get_object_or_404(incidents_visible_to(request.user).select_related("agent"), pk=pk)


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _context(request, incident, form=None) -> dict:
    serious = SeriousIncident.objects.filter(incident=incident).first()
    reports = {r.stage: r for r in serious.reports.all()} if serious else {}
    return {
        "incident": incident,
        "serious": serious,
        "clock": services.serious_clock(serious) if serious else None,
        "reports": reports,
        "stages": [(stage, label, reports.get(stage)) for stage, label in ReportStage.choices],
        "can_respond": user_can_respond(request.user, incident),
        "form": form or ClassifySeriousForm(),
        "days": {kind.label: days for kind, days in services.DAYS_BY_KIND.items()},
        "freezes": serious.freezes.order_by("-created_at") if serious else [],
    }


@login_required
def serious_detail(request, pk: int):
    incident = _incident(request, pk)
    return render(request, "compliance/serious_detail.html", _context(request, incident))


@login_required
@require_POST
def serious_classify(request, pk: int):
    incident = _incident(request, pk)
    if not user_can_respond(request.user, incident):
        raise PermissionDenied("Only the incident's responders may classify it.")
    form = ClassifySeriousForm(request.POST)
    if form.is_valid():
        try:
            services.serious_classify(incident_id=incident.pk, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, f"{incident.reference} is classified as a serious incident.")
            return redirect("compliance:serious_detail", pk=incident.pk)
    return render(request, "compliance/serious_detail.html", _context(request, incident, form), status=400)


@login_required
def serious_report(request, pk: int, stage: str, fmt: str):
    """The report of ``stage``: as submitted if it was, else drafted now; JSON or text."""
    incident = _incident(request, pk)
    serious = get_object_or_404(SeriousIncident, incident=incident)
    if stage not in ReportStage.values or fmt not in ("json", "txt"):
        raise Http404("No such report.")
    submitted = serious.reports.filter(stage=stage).first()
    draft = submitted.content if submitted else services.report_draft(serious, stage=stage)
    name = f"{incident.reference}-art73-{stage}-report"
    if fmt == "json":
        response = HttpResponse(json.dumps(draft, indent=2, ensure_ascii=False), content_type="application/json")
    else:
        response = HttpResponse(services.report_text(draft), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@login_required
@require_POST
def serious_submit(request, pk: int, stage: str):
    incident = _incident(request, pk)
    serious = get_object_or_404(SeriousIncident, incident=incident)
    try:
        services.serious_report_submit(serious_id=serious.pk, stage=stage, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
        return render(request, "compliance/serious_detail.html", _context(request, incident), status=400)
    messages.success(request, f"{ReportStage(stage).label} recorded as submitted.")
    return redirect("compliance:serious_detail", pk=incident.pk)
