"""Pages of the audit trail: "why was this allowed?" for an action or a change request, and
retention with legal holds. Views parse and call: the joins are in ``why``, the rules in
``services``."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from actions.selectors import action_requests_visible_to
from approvals.selectors import requests_visible_to
from registry.models import AuditEntry
from registry.selectors import agents_visible_to

from . import explorer as explorer_reads
from . import services
from .forms import AuditFilterForm, LegalHoldForm, LegalHoldReleaseForm, RetentionRuleForm
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


# --- the audit explorer ---------------------------------------------------------------------------

EXPLORER_PERM = "registry.view_auditentry"
PAGE_SIZE = 50


def _require_explorer(user) -> None:
    if not user.has_perm(EXPLORER_PERM):
        raise PermissionDenied("The audit explorer is for auditors and the governance board.")


def _filter_query(form) -> str:
    """The filters as a query string (for the export links and the pages)."""
    return urlencode({k: v for k, v in form.data.items() if k in form.fields and v})


@login_required
def explorer(request):
    _require_explorer(request.user)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        context = {"form": form, "page": None, "status": explorer_reads.chain_status(), "query": ""}
        return render(request, "trail/explorer.html", context, status=400)
    qs = explorer_reads.entries_filtered(form.cleaned_data).select_related("agent").order_by("-seq")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for entry in page.object_list:
        entry.why_url = explorer_reads.why_url(entry)
    context = {
        "form": form,
        "page": page,
        "status": explorer_reads.chain_status(),
        "query": _filter_query(form),
        "can_verify": request.user.has_perm(EXPLORER_PERM),
    }
    return render(request, "trail/explorer.html", context)


@login_required
def entry_object(request, seq: int):
    """An entry's object: its own page if it has one and still exists, else its entries."""
    _require_explorer(request.user)
    entry = get_object_or_404(AuditEntry, seq=seq)
    return redirect(explorer_reads.object_url(entry))


@login_required
@require_POST
def chain_verify_now(request):
    _require_explorer(request.user)
    result = explorer_reads.chain_verify_record(actor=request.user)
    if result.ok:
        messages.success(request, f"Chain verified: {result.entries_checked} entries, head #{result.head_seq}.")
    else:
        messages.error(request, f"Chain broken at entry #{result.bad_seq}: {result.problem}")
    return redirect("trail:explorer")


def _export(request, lines, content_type: str, extension: str):
    _require_explorer(request.user)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in form.errors.items())
        return HttpResponseBadRequest(f"Bad filter: {errors}\n", content_type="text/plain; charset=utf-8")
    qs = explorer_reads.entries_filtered(form.cleaned_data)
    response = StreamingHttpResponse(lines(qs), content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="quorum-audit-{stamp}.{extension}"'
    return response


@login_required
def export_csv(request):
    return _export(request, explorer_reads.csv_lines, "text/csv; charset=utf-8", "csv")


@login_required
def export_jsonl(request):
    return _export(request, explorer_reads.jsonl_lines, "application/x-ndjson; charset=utf-8", "jsonl")
