"""Report pages. Every table on a page is also a CSV (``?export=<table key>``); pages read
rollups only. Executives read everything here; edits check their permission on the server."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from registry import reviews
from registry.models import Agent, Review
from registry.permissions import user_can_edit_agent
from registry.selectors import agents_visible_to

from . import selectors, services
from .charts import Series, chart
from .forms import AdHocReviewForm, InvestmentForm, MonthForm, PeriodForm, ReviewCompleteForm
from .maturity import STAGE_NAMES, maturity_assess
from .models import AgentInvestment
from .tables import Column, Link, Table, csv_response

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


def _bad_period(request, form: PeriodForm, template: str) -> HttpResponse:
    return render(request, template, {"period_form": form, "bad_input": True}, status=400)


def _agent_linker():
    """Links to agents' ROI pages, with one reverse() per page instead of one per row
    (a 100-agent portfolio has some 300 links)."""
    prefix = reverse("reports:agent_roi", kwargs={"slug": "x"})[:-2]
    return lambda agent: Link(agent.name, f"{prefix}{agent.slug}/")


def _r(value, places: str = "0.01"):
    from decimal import Decimal

    return None if value is None else Decimal(value).quantize(Decimal(places))


# --- portfolio -----------------------------------------------------------------------------


@login_required
@permission_required(VIEW_PERM, raise_exception=True)
def portfolio(request):
    form, start, end = _period(request)
    if request.GET and not form.is_valid():
        return _bad_period(request, form, "reports/portfolio.html")
    p = selectors.portfolio(user=request.user, start=start, end=end)
    today = timezone.localdate()
    # Every visible live agent is among the portfolio's (already loaded).
    burns = selectors.budget_burns(now=timezone.now(), agents=p.agents)
    alerts = {a.agent_id: a for a in selectors.budget_alerts_current(user=request.user, today=today)}
    tables = _portfolio_tables(p, burns, alerts)
    response = _export(request, tables, "portfolio")
    if response:
        return response
    labels = [f"{b['start']:%d %b}" if p.trend_grain == "week" else f"{b['start']:%b %Y}" for b in p.trend]
    charts = {
        "money": chart(
            title="Value, cost and savings per " + p.trend_grain,
            labels=labels,
            series=[
                Series("Value", [b["value"] for b in p.trend]),
                Series("Cost", [b["cost"] for b in p.trend]),
                Series("Savings", [b["savings"] for b in p.trend]),
            ],
            unit="USD",
            testid="chart-money",
        ),
        "runs": chart(
            title="Runs and task success per " + p.trend_grain,
            labels=labels,
            series=[Series("Runs", [b["metrics"].runs for b in p.trend], kind="bar")],
            width=360,
            testid="chart-runs",
        ),
        "success": chart(
            title="Task success rate per " + p.trend_grain,
            labels=labels,
            series=[Series("Task success %", [b["metrics"].success_rate_pct for b in p.trend])],
            unit="%",
            width=360,
            testid="chart-success",
        ),
    }
    return render(
        request,
        "reports/portfolio.html",
        {
            "period_form": form,
            "p": p,
            "t": p.totals,
            "tables": {t.key.replace("-", "_"): t for t in tables},
            "charts": charts,
            "alerts": list(alerts.values()),
            "start": start,
            "end": end - timedelta(days=1),
        },
    )


def _portfolio_tables(p, burns, alerts) -> list[Table]:
    _agent_link = _agent_linker()
    # get_status_display() hashes the choices on every call; a hundred rows read one dict.
    status_labels = {value: str(label) for value, label in Agent._meta.get_field("status").flatchoices}
    agents = Table(
        "agents",
        "Every agent",
        [
            Column("Agent"),
            Column("Tier", "int"),
            Column("Status"),
            Column("Runs", "int"),
            Column("Task success %", "pct"),
            Column("Escalation %", "pct"),
            Column("Human intervention %", "pct"),
            Column("Containment %", "pct"),
            Column("Policy blocks", "int"),
            Column("Avg handle time (s)", "num"),
            Column("Model cost (USD)", "usd"),
            Column("Infra + ops (USD)", "usd"),
            Column("Value (USD)", "usd"),
            Column("Savings (USD)", "usd"),
            Column("Annualized savings (USD)", "usd"),
            Column("ROI ×", "num"),
            Column("Cost per success (USD)", "usd"),
            Column("Incident cost (USD)", "usd"),
            Column("Payback (months)", "num"),
        ],
    )
    for r in p.rois:
        m = r.metrics
        agents.rows.append(
            [
                _agent_link(r.agent),
                r.agent.risk_tier,
                status_labels.get(r.agent.status, r.agent.status),
                m.runs,
                m.success_rate_pct,
                m.escalation_rate_pct,
                m.intervention_rate_pct,
                m.containment_pct,
                m.policy_blocks,
                m.aht_seconds,
                _r(r.model_cost_usd),
                _r(r.infra_cost_usd + r.ops_cost_usd),
                _r(r.value_usd),
                _r(r.savings_usd),
                _r(r.annualized_savings_usd),
                r.roi_multiple,
                _r(r.cost_per_success_usd, "0.0001"),
                _r(r.incident_cost_usd),
                r.payback_months,
            ]
        )
    top_savings = Table(
        "top-savings",
        "Top agents by savings",
        [Column("Agent"), Column("Savings (USD)", "usd"), Column("Annualized (USD)", "usd"), Column("ROI ×", "num")],
        [
            [_agent_link(r.agent), _r(r.savings_usd), _r(r.annualized_savings_usd), r.roi_multiple]
            for r in p.top_by_savings
        ],
    )
    top_cost = Table(
        "top-cost",
        "Top agents by cost",
        [
            Column("Agent"),
            Column("Total cost (USD)", "usd"),
            Column("Model cost (USD)", "usd"),
            Column("Cost per success (USD)", "usd"),
        ],
        [
            [_agent_link(r.agent), _r(r.total_cost_usd), _r(r.model_cost_usd), _r(r.cost_per_success_usd, "0.0001")]
            for r in p.top_by_cost
        ],
    )
    below = Table(
        "below-thresholds",
        "Agents below their thresholds",
        [
            Column("Agent"),
            Column("Task success %", "pct"),
            Column("Threshold %", "pct"),
            Column("Escalation %", "pct"),
            Column("Ceiling %", "pct"),
            Column("Missed"),
        ],
        [
            [
                _agent_link(r.agent),
                r.metrics.success_rate_pct,
                r.agent.success_threshold_pct,
                r.metrics.escalation_rate_pct,
                r.agent.escalation_threshold_pct,
                "; ".join(r.below_thresholds),
            ]
            for r in p.below_thresholds
        ],
        empty="Every agent with runs met its thresholds in this period.",
    )
    incidents = Table(
        "incident-cost",
        "Incident cost against savings",
        [
            Column("Agent"),
            Column("Incident cost (USD)", "usd"),
            Column("Savings (USD)", "usd"),
            Column("Net of incidents (USD)", "usd"),
        ],
        [
            [_agent_link(r.agent), _r(r.incident_cost_usd), _r(r.savings_usd), _r(r.net_of_incidents_usd)]
            for r in p.with_incident_cost
        ],
        empty="No incident with a financial impact in this period."
        if p.incidents_available
        else "Incident costs are not available (the incidents app provides none).",
    )
    trend = Table(
        "trend",
        "Trend",
        [
            Column("From", "date"),
            Column("To", "date"),
            Column("Runs", "int"),
            Column("Task success %", "pct"),
            Column("Model cost (USD)", "usd"),
            Column("Infra + ops (USD)", "usd"),
            Column("Value (USD)", "usd"),
            Column("Savings (USD)", "usd"),
        ],
        [
            [
                b["start"],
                b["end"] - timedelta(days=1),
                b["metrics"].runs,
                b["metrics"].success_rate_pct,
                _r(b["metrics"].cost_usd),
                _r(b["fixed"]),
                _r(b["value"]),
                _r(b["savings"]),
            ]
            for b in p.trend
        ],
    )
    budget = Table(
        "budget",
        "Budget burn this month",
        [
            Column("Agent"),
            Column("Monthly budget (USD)", "usd"),
            Column("Month to date (USD)", "usd"),
            Column("Projected (USD)", "usd"),
            Column("Projected % of budget", "pct"),
            Column("Alert"),
        ],
        [
            [
                _agent_link(b.agent),
                b.budget_usd,
                _r(b.month_to_date_usd),
                b.projected_usd,
                b.burn_pct,
                "over budget" if b.over_budget else "",
            ]
            for b in sorted(burns, key=lambda b: -(b.burn_pct or 0))
        ],
        empty="No live agent has a monthly budget.",
    )
    return [agents, top_savings, top_cost, below, incidents, trend, budget]


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
    today = timezone.localdate()
    periods = selectors.agent_roi_by_period(agent=agent, periods=selectors.roi_periods(agent=agent, today=end))
    versions = selectors.agent_versions_breakdown(agent=agent, start=start, end=end)
    # The agent was looked up among those the user may see.
    burn = next(iter(selectors.budget_burns(now=timezone.now(), agents=[agent])), None)
    last24 = selectors.agent_last_24h(agent=agent, now=timezone.now())
    tables = _agent_tables(roi, periods, versions)
    response = _export(request, tables, f"agent-{agent.slug}")
    if response:
        return response
    series = selectors.agent_daily_series(agent=agent, start=start, end=end)
    labels = [f"{d:%d %b}" for d, _ in series]
    charts = {
        "daily": chart(
            title="Runs per day",
            labels=labels,
            series=[Series("Runs", [m.runs for _, m in series], kind="bar")],
            testid="chart-agent-runs",
        ),
        "success": chart(
            title="Task success and escalation per day",
            labels=labels,
            series=[
                Series("Task success %", [m.success_rate_pct for _, m in series]),
                Series("Escalation %", [m.escalation_rate_pct for _, m in series]),
            ],
            unit="%",
            testid="chart-agent-success",
        ),
        "periods": chart(
            title="Savings per reporting period",
            labels=[p.label.split(" (")[0] for p, _ in periods],
            series=[Series("Savings", [r.savings_usd for _, r in periods], kind="bar")],
            unit="USD",
            testid="chart-agent-periods",
        ),
    }
    investment = AgentInvestment.objects.filter(agent=agent).first()
    return render(
        request,
        "reports/agent_roi.html",
        {
            "agent": agent,
            "period_form": form,
            "roi": roi,
            "m": roi.metrics,
            "tables": {t.key.replace("-", "_"): t for t in tables},
            "charts": charts,
            "burn": burn,
            "last24": last24,
            "last24_p95": last24.latency_pct_ms(95),
            "investment": investment,
            "can_edit": user_can_edit_agent(request.user, agent),
            "start": start,
            "end": end - timedelta(days=1),
            "today": today,
        },
    )


def _agent_tables(roi, periods, versions) -> list[Table]:
    m = roi.metrics
    summary = Table(
        "summary",
        "ROI for the period",
        [Column("Measure"), Column("Value")],
        [
            ["Runs", m.runs],
            ["Task success rate %", m.success_rate_pct],
            ["Escalation rate %", m.escalation_rate_pct],
            ["Human intervention rate %", m.intervention_rate_pct],
            ["Containment %", m.containment_pct],
            ["Policy blocks", m.policy_blocks],
            ["Average handle time (s)", m.aht_seconds],
            ["Latency p50 (ms)", m.latency_pct_ms(50)],
            ["Latency p95 (ms)", m.latency_pct_ms(95)],
            ["Minutes automated", _r(roi.minutes_automated)],
            ["Value at human cost (USD)", _r(roi.value_usd)],
            ["Model and tool cost (USD)", _r(roi.model_cost_usd)],
            ["Infrastructure cost (USD)", _r(roi.infra_cost_usd)],
            ["Operations and maintenance (USD)", _r(roi.ops_cost_usd)],
            ["Savings (USD)", _r(roi.savings_usd)],
            ["Annualized savings (USD)", _r(roi.annualized_savings_usd)],
            ["Incident cost (USD)", _r(roi.incident_cost_usd)],
            ["Net of incidents (USD)", _r(roi.net_of_incidents_usd)],
            ["ROI multiple", roi.roi_multiple],
            ["Cost per successful task, blended (USD)", _r(roi.cost_per_success_usd, "0.0001")],
            ["Payback (months)", roi.payback_months],
        ],
    )
    by_period = Table(
        "periods",
        "By reporting period (weekly for the first 90 days in production, monthly after)",
        [
            Column("Period"),
            Column("From", "date"),
            Column("To", "date"),
            Column("Runs", "int"),
            Column("Task success %", "pct"),
            Column("Escalation %", "pct"),
            Column("Model cost (USD)", "usd"),
            Column("Value (USD)", "usd"),
            Column("Savings (USD)", "usd"),
            Column("Cost per success (USD)", "usd"),
        ],
        [
            [
                p.label,
                p.start,
                p.end - timedelta(days=1),
                r.metrics.runs,
                r.metrics.success_rate_pct,
                r.metrics.escalation_rate_pct,
                _r(r.model_cost_usd),
                _r(r.value_usd),
                _r(r.savings_usd),
                _r(r.cost_per_success_usd, "0.0001"),
            ]
            for p, r in reversed(periods)
        ],
        empty="Not in production yet (no go-live date).",
    )
    by_version = Table(
        "versions",
        "By version",
        [
            Column("Version"),
            Column("Runs", "int"),
            Column("Task success %", "pct"),
            Column("Errors %", "pct"),
            Column("p50 (ms)", "int"),
            Column("p95 (ms)", "int"),
            Column("p99 (ms)", "int"),
            Column("Cost (USD)", "usd"),
        ],
        [
            [
                v["version"],
                v["metrics"].runs,
                v["metrics"].success_rate_pct,
                v["metrics"].error_rate_pct,
                v["metrics"].latency_pct_ms(50),
                v["metrics"].latency_pct_ms(95),
                v["metrics"].latency_pct_ms(99),
                _r(v["metrics"].cost_usd),
            ]
            for v in versions
        ],
    )
    return [summary, by_period, by_version]


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


def _review_tables(items) -> list[Table]:
    table = Table(
        "reviews",
        "Reviews",
        [
            Column("Agent"),
            Column("Tier", "int"),
            Column("Kind"),
            Column("Due", "date"),
            Column("State"),
            Column("Owner"),
        ],
        [
            [
                Link(
                    i.agent.name,
                    reverse("reports:review_detail", kwargs={"pk": i.review.pk})
                    if i.review
                    else reverse("reports:agent_roi", kwargs={"slug": i.agent.slug}),
                ),
                i.agent.risk_tier,
                i.review.get_kind_display() if i.review else "Scheduled (not opened yet)",
                i.due_on,
                "overdue" if i.is_overdue else ("open" if i.review else "upcoming"),
                i.agent.owner.get_full_name() or i.agent.owner.username,
            ]
            for i in items
        ],
        empty="No review is due.",
    )
    return [table]


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
    tables = _review_tables(items)
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
            "tables": {t.key.replace("-", "_"): t for t in tables},
            "can_open": request.user.has_perm("registry.add_review"),
            "lead_days": settings.REPORTS_REVIEW_LEAD_DAYS,
        },
    )


@login_required
@permission_required(VIEW_PERM, raise_exception=True)
def review_overdue(request):
    today = timezone.localdate()
    items = selectors.reviews_overdue(user=request.user, today=today)
    tables = _review_tables(items)
    tables[0].key, tables[0].title = "overdue", "Overdue reviews"
    tables[0].empty = "No review is overdue."
    response = _export(request, tables, "reviews-overdue")
    if response:
        return response
    return render(
        request, "reports/review_overdue.html", {"items": items, "tables": {t.key.replace("-", "_"): t for t in tables}}
    )


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
        "can_complete": request.user.has_perm("registry.change_review") and review.status == "open",
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
    agents = agents_visible_to(request.user).exclude(status="retired")
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
    table = Table(
        "answers",
        "Answers",
        [Column("Stage", "int"), Column("Question"), Column("Answer"), Column("Evidence")],
        [[a.stage, a.question, "yes" if a.yes else "no", a.evidence] for a in result.answers],
    )
    response = _export(request, [table], "maturity")
    if response:
        return response
    return render(
        request,
        "reports/maturity.html",
        {"result": result, "tables": {"answers": table}, "stages": list(STAGE_NAMES.items())},
    )
