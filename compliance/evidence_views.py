"""Framework mapping pages: the portfolio, one agent, the ISO 42001 Statement of Applicability."""

from __future__ import annotations

import csv
import io

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from registry.selectors import agents_visible_to
from reports.tables import spreadsheet_safe

from .catalogue import catalogue_load
from .evidence import STATUS_LABELS, controls_status, status_counts
from .workbench_forms import FrameworkFilterForm

PORTFOLIO_PERM = "registry.view_auditentry"  # auditors and the board, like the audit explorer


def _framework(request, catalogue) -> tuple[FrameworkFilterForm, str]:
    form = FrameworkFilterForm(request.GET or None, frameworks=catalogue.frameworks)
    framework = form.cleaned_data["framework"] if form.is_bound and form.is_valid() else ""
    return form, framework


def _page(request, *, agent, status: int = 200):
    catalogue = catalogue_load()
    form, framework = _framework(request, catalogue)
    statuses = controls_status(agent=agent, catalogue=catalogue, framework=framework)
    context = {
        "agent": agent,
        "catalogue": catalogue,
        "form": form,
        "statuses": statuses,
        "counts": status_counts(statuses),
        "labels": STATUS_LABELS,
        "agents": agents_visible_to(request.user).exclude(status="retired").order_by("name") if agent is None else [],
    }
    return render(request, "compliance/mapping.html", context, status=400 if form.is_bound and form.errors else status)


@login_required
def portfolio_mapping(request):
    if not request.user.has_perm(PORTFOLIO_PERM):
        raise PermissionDenied("The portfolio's framework mapping is for auditors and the board.")
    return _page(request, agent=None)


@login_required
def agent_mapping(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    return _page(request, agent=agent)


def _soa_rows():
    catalogue = catalogue_load()
    for s in controls_status(agent=None, catalogue=catalogue, framework="iso_42001"):
        applicable = "no" if s.status == "outside" else "yes"
        justification = s.control.outside_quorum or "Quorum records evidence this control."
        evidence = "; ".join(f"{name}: {r.count}" for name, r in s.results.items())
        yield {
            "control": s.control.ref,
            "title": s.control.title,
            "applicable": applicable,
            "justification": justification,
            "status": STATUS_LABELS[s.status],
            "evidence": evidence,
            "gaps": " ".join(s.missing_reasons) if s.status != "outside" else "",
        }


@login_required
def soa(request, fmt: str = "html"):
    """ISO/IEC 42001 Statement of Applicability from the live mapping (CSV or printable HTML)."""
    if not request.user.has_perm(PORTFOLIO_PERM):
        raise PermissionDenied("The Statement of Applicability is for auditors and the board.")
    rows = list(_soa_rows())
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["control"])
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="iso42001-statement-of-applicability.csv"'
        return response
    return render(request, "compliance/soa.html", {"rows": rows, "catalogue": catalogue_load()})
