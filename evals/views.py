from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from approvals.exceptions import ApprovalError
from approvals.models import ApprovalRequest
from registry.permissions import user_can_edit_agent, user_can_operate_agent
from registry.selectors import agents_visible_to

from . import services
from .choices import AlertStatus
from .drift_change import driftpolicy_change
from .forms import CaseForm, DriftPolicyForm, EvalTargetForm, GoldenSetForm, ImportForm, RatingForm, RunStartForm
from .models import CaseResult, GoldenCase, GoldenSetVersion, Judge
from .selectors import alerts_visible_to, evalruns_visible_to, goldensets_visible_to, pass_rate_trend


def _require_edit(user, agent):
    if not user_can_edit_agent(user, agent):
        raise PermissionDenied("You may not change this agent's evals.")


def _may_rate(user, agent) -> bool:
    return user.has_perm("evals.rate_judge") or user_can_edit_agent(user, agent)


@login_required
def index(request):
    agents = agents_visible_to(request.user).filter(golden_sets__isnull=False).distinct()
    runs = evalruns_visible_to(request.user)[:25]
    return render(
        request,
        "evals/index.html",
        {
            "agents": agents,
            "runs": runs,
            "open_alerts": alerts_visible_to(request.user).exclude(status=AlertStatus.RESOLVED)[:25],
            "judges": Judge.objects.all(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def agent_evals(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    can_edit = user_can_edit_agent(request.user, agent)
    set_form = GoldenSetForm(request.POST or None)
    if request.method == "POST":
        _require_edit(request.user, agent)
        if set_form.is_valid():
            try:
                golden_set = services.goldenset_create(agent=agent, user=request.user, **set_form.cleaned_data)
            except IntegrityError:
                set_form.add_error("name", "This agent already has a golden set with that name.")
            else:
                messages.success(request, f"Golden set “{golden_set.name}” created.")
                return redirect(golden_set)
    return render(
        request,
        "evals/agent_evals.html",
        {
            "agent": agent,
            "can_edit": can_edit,
            "golden_sets": agent.golden_sets.prefetch_related("versions"),
            "runs": agent.eval_runs.select_related("version", "set_version__golden_set")[:50],
            "trend": pass_rate_trend(agent),
            "alerts": agent.drift_alerts.all()[:20],
            "target": getattr(agent, "eval_target", None),
            "policy": services.driftpolicy_for(agent) if can_edit else getattr(agent, "drift_policy", None),
            "set_form": set_form,
            "run_form": RunStartForm(agent=agent),
        },
        status=400 if set_form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def target_edit(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    _require_edit(request.user, agent)
    instance = getattr(agent, "eval_target", None)
    form = EvalTargetForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        fields = {k: v for k, v in form.cleaned_data.items()}
        services.evaltarget_save(agent=agent, **fields)
        messages.success(request, "Eval target saved.")
        return redirect("evals:agent_evals", slug=agent.slug)
    return render(request, "evals/target_form.html", {"agent": agent, "form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def driftpolicy_edit(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    _require_edit(request.user, agent)
    policy = services.driftpolicy_for(agent)
    form = DriftPolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        # The form validated a copy; the service saves under the row lock.
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            # Tightening saves now; weakening becomes a two-person request (issue 13).
            outcome = driftpolicy_change(agent=agent, user=request.user, **fields)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        except ApprovalError as exc:
            form.add_error(None, exc.message)
        else:
            if isinstance(outcome, ApprovalRequest):
                messages.warning(
                    request,
                    f"This weakens the drift policy: proposed as request #{outcome.pk}; the policy in force stays.",
                )
                return redirect(outcome)
            messages.success(request, "Drift policy saved.")
            return redirect("evals:agent_evals", slug=agent.slug)
    return render(
        request, "evals/driftpolicy_form.html", {"agent": agent, "form": form}, status=400 if form.errors else 200
    )


@login_required
def goldenset_detail(request, pk: int):
    golden_set = get_object_or_404(goldensets_visible_to(request.user), pk=pk)
    latest = golden_set.versions.order_by("-number").first()
    return redirect(latest) if latest else redirect("evals:agent_evals", slug=golden_set.agent.slug)


def _set_version_for(request, pk: int) -> GoldenSetVersion:
    return get_object_or_404(
        GoldenSetVersion.objects.filter(golden_set__in=goldensets_visible_to(request.user)).select_related(
            "golden_set__agent"
        ),
        pk=pk,
    )


@login_required
@require_http_methods(["GET", "POST"])
def setversion_detail(request, pk: int):
    set_version = _set_version_for(request, pk)
    agent = set_version.golden_set.agent
    can_edit = user_can_edit_agent(request.user, agent)
    form = CaseForm(request.POST or None)
    status = 200
    if request.method == "POST":
        _require_edit(request.user, agent)
        if form.is_valid():
            try:
                services.case_save(set_version_id=set_version.pk, **form.cleaned_data)
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                messages.success(request, f"Case {form.cleaned_data['key']} added.")
                return redirect(set_version)
        status = 400
    return render(
        request,
        "evals/setversion_detail.html",
        {
            "set_version": set_version,
            "golden_set": set_version.golden_set,
            "agent": agent,
            "cases": set_version.cases.all(),
            "versions": set_version.golden_set.versions.all(),
            "can_edit": can_edit and not set_version.is_frozen,
            "can_version": can_edit,
            "form": form,
            "import_form": ImportForm(),
        },
        status=status,
    )


def _errors_to_form(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _case_delete(request, case: GoldenCase):
    try:
        services.case_delete(case_id=case.pk)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Case {case.key} deleted.")
    return redirect(case.set_version)


@login_required
@require_http_methods(["GET", "POST"])
def case_edit(request, pk: int):
    case = get_object_or_404(
        GoldenCase.objects.filter(set_version__golden_set__in=goldensets_visible_to(request.user)).select_related(
            "set_version__golden_set__agent"
        ),
        pk=pk,
    )
    agent = case.set_version.golden_set.agent
    _require_edit(request.user, agent)
    if request.method == "POST" and request.POST.get("delete"):
        return _case_delete(request, case)
    initial = {f: getattr(case, f) for f in ("key", "input", "scorer", "expected", "options")}
    form = CaseForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.case_save(set_version_id=case.set_version_id, case_id=case.pk, **form.cleaned_data)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "Case saved.")
            return redirect(case.set_version)
    if case.set_version.is_frozen and request.method == "GET":
        messages.warning(request, "This version is frozen; saving will be refused. Create a new version to change it.")
    return render(
        request,
        "evals/case_form.html",
        {"case": case, "form": form, "agent": agent, "set_version": case.set_version},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def setversion_import(request, pk: int):
    set_version = _set_version_for(request, pk)
    _require_edit(request.user, set_version.golden_set.agent)
    form = ImportForm(request.POST, request.FILES)
    errors: list[str] = []
    if form.is_valid():
        try:
            count = services.cases_import_jsonl(
                set_version_id=set_version.pk, text=form.content(), replace=form.cleaned_data["replace"]
            )
        except services.JsonlImportError as exc:
            errors = [str(e) for e in exc.errors[:50]]
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, f"Imported {count} case(s).")
            return redirect(set_version)
    else:
        errors = [m for ms in form.errors.values() for m in ms]
    return render(
        request,
        "evals/import_errors.html",
        {"set_version": set_version, "agent": set_version.golden_set.agent, "errors": errors, "import_form": form},
        status=400,
    )


@login_required
def setversion_export(request, pk: int):
    set_version = _set_version_for(request, pk)
    response = HttpResponse(services.cases_export_jsonl(set_version=set_version), content_type="application/jsonl")
    name = f"{set_version.golden_set.agent.slug}-{set_version.golden_set.pk}-v{set_version.number}.jsonl"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_POST
def setversion_new(request, pk: int):
    set_version = _set_version_for(request, pk)
    _require_edit(request.user, set_version.golden_set.agent)
    new = services.setversion_create_next(golden_set=set_version.golden_set, user=request.user)
    messages.success(request, f"Version {new.number} created as an editable copy.")
    return redirect(new)


@login_required
@require_POST
def setversion_freeze(request, pk: int):
    set_version = _set_version_for(request, pk)
    _require_edit(request.user, set_version.golden_set.agent)
    services.setversion_freeze(set_version_id=set_version.pk)
    messages.success(request, "Version frozen.")
    return redirect(set_version)


@login_required
@require_POST
def run_start(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    _require_edit(request.user, agent)
    form = RunStartForm(request.POST, agent=agent)
    if form.is_valid():
        try:
            run, _ = services.evalrun_request(
                version=form.cleaned_data["version"],
                set_version=form.cleaned_data["set_version"],
                user=request.user,
            )
        except services.EvalRunRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Eval run queued.")
            return redirect(run)
    else:
        messages.error(request, "Choose a version and a golden-set version of this agent.")
    return redirect("evals:agent_evals", slug=agent.slug)


@login_required
def run_detail(request, pk: int):
    run = get_object_or_404(evalruns_visible_to(request.user), pk=pk)
    gate_rate, untrusted = services.evalrun_gate_pass_rate(run)
    context = {
        "run": run,
        "agent": run.agent,
        "results": run.results.select_related("judge").prefetch_related("ratings"),
        "gate_rate": gate_rate,
        "untrusted_judges": untrusted,
        "counts_for_gate": services.evalrun_counts_for_gate(run),
        "may_rate": _may_rate(request.user, run.agent),
    }
    if request.htmx and request.GET.get("fragment") == "progress":
        response = render(request, "evals/htmx/run_progress.html", context)
        if not run.is_active:
            # Progress done: reload the page once so the results table appears.
            response["HX-Refresh"] = "true"
        response["Vary"] = "HX-Request"
        return response
    response = render(request, "evals/run_detail.html", context)
    response["Vary"] = "HX-Request"
    return response


@login_required
@require_POST
def result_rate(request, pk: int):
    result = get_object_or_404(
        CaseResult.objects.filter(run__in=evalruns_visible_to(request.user)).select_related("run__agent", "judge"),
        pk=pk,
    )
    if not _may_rate(request.user, result.run.agent):
        raise PermissionDenied("You may not rate judged cases.")
    form = RatingForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Choose pass or fail.", status=400)
    try:
        services.humanrating_record(
            result_id=result.pk,
            rater=request.user,
            human_passed=form.cleaned_data["human_passed"],
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400)
    if request.htmx:
        result.refresh_from_db()
        return render(
            request, "evals/htmx/rating_cell.html", {"r": result, "may_rate": True, "my_rating": form.cleaned_data}
        )
    messages.success(request, "Rating recorded.")
    return redirect(request.POST.get("next") or result.run.get_absolute_url())


@login_required
def judge_detail(request, pk: int):
    judge = get_object_or_404(Judge, pk=pk)
    results = (
        CaseResult.objects.filter(judge=judge, run__in=evalruns_visible_to(request.user))
        .select_related("run__agent")
        .prefetch_related("ratings__rater")
        .order_by("-run__created_at")[:100]
    )
    return render(request, "evals/judge_detail.html", {"judge": judge, "results": results})


@login_required
def alert_list(request):
    status = request.GET.get("status", "unresolved")
    alerts = alerts_visible_to(request.user)
    if status == "unresolved":
        alerts = alerts.exclude(status=AlertStatus.RESOLVED)
    elif status in AlertStatus.values:
        alerts = alerts.filter(status=status)
    elif status != "all":
        return HttpResponse("Unknown status filter; use unresolved, all, open, acknowledged or resolved.", status=400)
    return render(request, "evals/alert_list.html", {"alerts": alerts[:200], "status": status})


@login_required
@require_http_methods(["GET", "POST"])
def alert_detail(request, pk: int):
    alert = get_object_or_404(alerts_visible_to(request.user), pk=pk)
    can_operate = user_can_operate_agent(request.user, alert.agent) or user_can_edit_agent(request.user, alert.agent)
    if request.method == "POST":
        if not can_operate:
            raise PermissionDenied("You may not change this alert.")
        try:
            services.driftalert_set_status(alert_id=alert.pk, status=request.POST.get("status", ""), user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Alert updated.")
        return redirect(alert)
    return render(
        request, "evals/alert_detail.html", {"alert": alert, "agent": alert.agent, "can_operate": can_operate}
    )
