"""Report pages. Every table on a page is also a CSV (``?export=<table key>``); pages read
rollups only. Executives read everything here; edits check their permission on the server."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from actions.selectors import approval_queue_depth, gate_figures_by_agent, near_miss_register
from monitors.selectors import slos_for_agents
from registry import reviews
from registry.choices import AgentStatus, ReviewStatus
from registry.models import Review
from registry.permissions import user_can_edit_agent
from registry.selectors import agents_visible_to

from . import report_charts, report_tables, selectors, services
from .evidence import evidence_export
from .forms import AdHocReviewForm, EvidenceForm, InvestmentForm, MonthForm, PeriodForm, ReviewCompleteForm
from .maturity import STAGE_NAMES, maturity_assess
from .models import AgentInvestment
from .tables import Table, csv_response

VIEW_PERM = "reports.view_reports"


def _period(request) -> tuple[PeriodForm, date, date]:
    form = PeriodForm(request.GET or None)
    days = form.cleaned_data["days"] if form.is_valid() else 90
    end = timezone.localdate() + timedelta(days=1)  # today counts, partially
    return form, end - timedelta(days=days), end


def _export(request, tables: list[Table], page: str) -> HttpResponse | None:
    key = request.GET.get("export")
    if key is None:
        return None
    for table in tables:
        if table.key == key:
            return csv_response(table, filename=f"quorum-{page}-{key}-{timezone.localdate():%Y-%m-%d}.csv")
    known = ", ".join(t.key for t in tables)
    return HttpResponse(f"Unknown table {key!r}; this page has: {known}.", status=400, content_type="text/plain")


def _by_key(tables: list[Table]) -> dict[str, Table]:
    """Tables by key for the template (``tables.top_savings``)."""
    return {t.key.replace("-", "_"): t for t in tables}


def _bad_period(request, form: PeriodForm, template: str) -> HttpResponse:
    return render(request, template, {"period_form": form, "bad_input": True}, status=400)


# --- portfolio -----------------------------------------------------------------------------


@login_required
@permission_required(VIEW_PERM, raise_exception=True)
def portfolio(request):
    form, start, end = _period(request)
    if request.GET and not form.is_valid():
        return _bad_period(request, form, "reports/portfolio.html")
    p = selectors.portfolio(user=request.user, start=start, end=end)
    # Every visible live agent is among the portfolio's (already loaded).
    burns = selectors.budget_burns(now=timezone.now(), agents=p.agents)
    alerts = selectors.budget_alerts_current(user=request.user, today=timezone.localdate())
    tables = report_tables.portfolio_tables(p, burns) + _gate_tables(p, start, end)
    response = _export(request, tables, "portfolio")
    if response:
        return response
    return render(
        request,
        "reports/portfolio.html",
        {
            "period_form": form,
            "p": p,
            "t": p.totals,
            "tables": _by_key(tables),
            "charts": report_charts.portfolio_charts(p),
            "alerts": alerts,
            "slos": slos_for_agents([a.pk for a in p.agents]),
            "start": start,
            "end": end - timedelta(days=1),
        },
    )


def _gate_tables(p, start: date, end: date) -> list:
    """The action gate's own blocks and the near-miss register for the portfolio's agents."""
    agent_ids = [r.agent.pk for r in p.rois]
    since, until = _day_start(start), _day_start(end)
    figures = gate_figures_by_agent(start=since, end=until, agent_ids=agent_ids)
    register, actions = near_miss_register(start=since, end=until, agent_ids=agent_ids)
    depth = approval_queue_depth(agent_ids=agent_ids)
    return report_tables.gate_tables(p, figures, register, actions, depth, report_tables.agent_linker())


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- one agent -----------------------------------------------------------------------------


@login_required
@permission_required(VIEW_PERM, raise_exception=True)
def agent_roi(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    form, start, end = _period(request)
    if request.GET and not form.is_valid() and "export" not in request.GET:
        return render(
            request, "reports/agent_roi.html", {"period_form": form, "agent": agent, "bad_input": True}, status=400
        )
    roi = selectors.agent_roi(agent=agent, start=start, end=end)
    periods = selectors.agent_reporting_periods(agent=agent, start=start, end=end)
    versions = selectors.agent_versions_breakdown(agent=agent, start=start, end=end)
    tables = report_tables.agent_tables(roi, periods, versions)
    response = _export(request, tables, f"agent-{agent.slug}")
    if response:
        return response
    series = selectors.agent_daily_series(agent=agent, start=start, end=end)
    return render(request, "reports/agent_roi.html", _agent_context(request, agent, form, roi, tables, series, periods))


def _agent_context(request, agent, form, roi, tables, series, periods) -> dict:
    # The agent was looked up among those the user may see.
    burn = next(iter(selectors.budget_burns(now=timezone.now(), agents=[agent])), None)
    last24 = selectors.agent_last_24h(agent=agent, now=timezone.now())
    return {
        "agent": agent,
        "period_form": form,
        "roi": roi,
        "m": roi.metrics,
        "tables": _by_key(tables),
        "charts": report_charts.agent_charts(series, periods),
        "burn": burn,
        "last24": last24,
        "last24_p95": last24.latency_pct_ms(95),
        "investment": AgentInvestment.objects.filter(agent=agent).first(),
        "can_edit": user_can_edit_agent(request.user, agent),
        "start": roi.start,
        "end": roi.end - timedelta(days=1),
        "today": timezone.localdate(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def investment_edit(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    if not user_can_edit_agent(request.user, agent):
        raise PermissionDenied("You may not change this agent's economics.")
    current = AgentInvestment.objects.filter(agent=agent).first()
    initial = {"build_cost_usd": current.build_cost_usd, "note": current.note} if current else {}
    form = InvestmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.investment_set(agent=agent, actor=request.user, **form.cleaned_data)
        messages.success(request, "Build cost saved; the payback period uses it now.")
        return redirect("reports:agent_roi", slug=agent.slug)
    return render(
        request, "reports/investment_form.html", {"agent": agent, "form": form}, status=400 if form.errors else 200
    )


# --- reviews -------------------------------------------------------------------------------


@login_required
@permission_required(VIEW_PERM, raise_exception=True)
def review_calendar(request):
    form = MonthForm(request.GET or None)
    if request.GET and not form.is_valid() and "export" not in request.GET:
        return render(request, "reports/review_calendar.html", {"month_form": form, "bad_input": True}, status=400)
    today = timezone.localdate()
    first = (form.cleaned_data.get("month") if form.is_valid() else None) or today.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    items = selectors.reviews_due(user=request.user, start=first, end=nxt)
    tables = report_tables.review_tables(items)
    response = _export(request, tables, f"reviews-{first:%Y-%m}")
    if response:
        return response
    prev = (first - timedelta(days=1)).replace(day=1)
    return render(
        request,
        "reports/review_calendar.html",
        {
            "month_form": form,
            "first": first,
            "prev": prev,
            "next": nxt,
            "weeks": selectors.calendar_weeks(year=first.year, month=first.month, items=items),
            "items": items,
            "today": today,
            "overdue_count": len(selectors.reviews_overdue(user=request.user, today=today)),
            "tables": _by_key(tables),
            "can_open": request.user.has_perm("registry.add_review"),
            "lead_days": settings.REPORTS_REVIEW_LEAD_DAYS,
        },
    )


@login_required
@permission_required(VIEW_PERM, raise_exception=True)
def review_overdue(request):
    today = timezone.localdate()
    items = selectors.reviews_overdue(user=request.user, today=today)
    tables = report_tables.review_tables(items)
    tables[0].key, tables[0].title = "overdue", "Overdue reviews"
    tables[0].empty = "No review is overdue."
    response = _export(request, tables, "reviews-overdue")
    if response:
        return response
    return render(request, "reports/review_overdue.html", {"items": items, "tables": _by_key(tables)})


def _reviews_visible(user):
    return Review.objects.filter(agent__in=agents_visible_to(user).values("pk")).select_related(
        "agent", "agent__owner", "reviewer"
    )


@login_required
@permission_required(VIEW_PERM, raise_exception=True)
def review_detail(request, pk: int):
    review = get_object_or_404(_reviews_visible(request.user), pk=pk)
    dossier = getattr(review, "dossier", None)
    form = ReviewCompleteForm()
    return render(request, "reports/review_detail.html", _review_context(request, review, dossier, form))


def _review_context(request, review, dossier, form) -> dict:
    return {
        "review": review,
        "agent": review.agent,
        "dossier": dossier,
        "s": dossier.snapshot if dossier else None,
        "form": form,
        "can_complete": request.user.has_perm("registry.change_review") and review.status == ReviewStatus.OPEN,
        "today": timezone.localdate(),
    }


@login_required
@require_POST
def review_complete(request, pk: int):
    review = get_object_or_404(_reviews_visible(request.user), pk=pk)
    if not request.user.has_perm("registry.change_review"):
        raise PermissionDenied("Only the governance board completes reviews.")
    form = ReviewCompleteForm(request.POST)
    if form.is_valid():
        try:
            review = reviews.review_complete(review_id=review.pk, reviewer=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
    template = "reports/htmx/review_complete.html" if request.htmx else "reports/review_detail.html"
    if form.errors:
        review.refresh_from_db()
        ctx = _review_context(request, review, getattr(review, "dossier", None), form)
        return render(request, template, ctx, status=400)
    review.agent.refresh_from_db()
    if request.htmx:
        ctx = _review_context(request, review, getattr(review, "dossier", None), ReviewCompleteForm())
        response = render(request, template, ctx)
        response["Vary"] = "HX-Request"
        return response
    messages.success(request, f"Review completed. Next review of {review.agent} due {review.agent.next_review_due}.")
    return redirect("reports:review_detail", pk=review.pk)


@login_required
@require_POST
def review_refresh(request, pk: int):
    review = get_object_or_404(_reviews_visible(request.user), pk=pk)
    if not request.user.has_perm("registry.change_review"):
        raise PermissionDenied("Only the governance board refreshes review figures.")
    try:
        reviews.review_refresh(review_id=review.pk, actor=request.user)
        messages.success(request, "Figures refreshed from the latest rollups.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("reports:review_detail", pk=review.pk)


@login_required
@require_http_methods(["GET", "POST"])
def review_create(request):
    if not request.user.has_perm("registry.add_review"):
        raise PermissionDenied("Only the governance board opens ad-hoc reviews.")
    agents = agents_visible_to(request.user).exclude(status=AgentStatus.RETIRED)
    form = AdHocReviewForm(request.POST or None, agents=agents, initial={"agent": request.GET.get("agent")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        review = reviews.review_open_ad_hoc(
            agent=data["agent"], kind=data["kind"], reason=data["reason"], due_on=data["due_on"], actor=request.user
        )
        messages.success(request, "Ad-hoc review opened; the owner and the board are told by e-mail.")
        return redirect("reports:review_detail", pk=review.pk)
    return render(request, "reports/review_form.html", {"form": form}, status=400 if form.errors else 200)


# --- maturity ------------------------------------------------------------------------------


@login_required
@permission_required(VIEW_PERM, raise_exception=True)
def maturity(request):
    result = maturity_assess()
    tables = report_tables.maturity_tables(result)
    response = _export(request, tables, "maturity")
    if response:
        return response
    return render(
        request,
        "reports/maturity.html",
        {"result": result, "tables": _by_key(tables), "stages": list(STAGE_NAMES.items())},
    )


# --- evidence export (issue 15, item 5) ------------------------------------------------------

EVIDENCE_PERM = "registry.view_auditentry"


@login_required
@require_POST
def evidence_export_download(request, slug: str | None = None):
    """The evidence ZIP of one agent (or the portfolio) for the posted period, as a download.
    Auditors and the board (``view_auditentry``); an agent the user cannot see is a 404."""
    if not request.user.has_perm(EVIDENCE_PERM):
        raise PermissionDenied("Evidence exports are for auditors and the governance board.")
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug) if slug else None
    form = EvidenceForm(request.POST)
    if not form.is_valid():
        words = " ".join(str(error) for errors in form.errors.values() for error in errors)
        return HttpResponse(f"Evidence export refused: {words}", status=400, content_type="text/plain")
    first, last = form.cleaned_data["since"], form.cleaned_data["until"]
    since = datetime.combine(first, time.min, tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    name = f"quorum-evidence-{slug or 'portfolio'}-{first:%Y%m%d}-{last:%Y%m%d}.zip"
    # Written to a temporary file and streamed from disk: a large audit extract never sits in memory.
    # FileResponse closes (and so deletes) the file when the download is done.
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    evidence_export(
        out=spool, agent=agent, since=since, until=until, generated_by=request.user.get_username(), filename=name
    )
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=name, content_type="application/zip")
