from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from approvals.exceptions import ApprovalError
from approvals.services import change_request_create
from registry.extensions import page_sections_collect
from registry.governance import FLEET_REENABLE
from registry.models import GlobalControls
from registry.permissions import user_can_operate_agent
from registry.selectors import agents_visible_to

from . import services
from .choices import ALLOWED_TRANSITIONS, IncidentStatus
from .extensions import incident_sections
from .filtersets import ActionItemFilterSet, IncidentFilterSet
from .forms import (
    ActionItemForm,
    ActionItemUpdateForm,
    FleetKillSwitchForm,
    IncidentEditForm,
    IncidentForm,
    KillSwitchForm,
    LinkRunsForm,
    NoteForm,
    PostmortemForm,
    ReenableForm,
)
from .models import Postmortem
from .permissions import (
    user_can_pull_fleet_switch,
    user_can_report_incident,
    user_can_request_reenable,
    user_can_respond,
)
from .selectors import (
    action_items_visible_to,
    incident_metrics,
    incident_replay,
    incident_timeline,
    incidents_visible_to,
)

TRANSITION_LABELS = {
    IncidentStatus.MITIGATED: "Mark mitigated",
    IncidentStatus.RESOLVED: "Resolve",
    IncidentStatus.CLOSED: "Close",
    IncidentStatus.OPEN: "Reopen",
}


def _errors_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _need_view(user):
    if not user.has_perm("incidents.view_incident"):
        raise PermissionDenied("You may not read incidents.")


def _get_incident(request, pk: int):
    _need_view(request.user)
    return get_object_or_404(incidents_visible_to(request.user), pk=pk)


def _need_respond(user, incident):
    if not user_can_respond(user, incident):
        raise PermissionDenied("You may read this incident but not change it.")


@login_required
def incident_list(request):
    _need_view(request.user)
    agents = agents_visible_to(request.user)
    base = incidents_visible_to(request.user)
    filterset = IncidentFilterSet(request.GET, queryset=base, agents=agents)
    incidents = filterset.qs if filterset.is_valid() else base.none()
    return render(
        request,
        "incidents/incident_list.html",
        {
            "filterset": filterset,
            "incidents": incidents.select_related("postmortem")[:500],
            "can_report": user_can_report_incident(request.user),
            "can_pull_fleet": user_can_pull_fleet_switch(request.user),
            "global_controls": GlobalControls.load(),
        },
        status=200 if filterset.is_valid() else 400,
    )


@login_required
@require_http_methods(["GET", "POST"])
def incident_create(request):
    if not user_can_report_incident(request.user):
        raise PermissionDenied("You may not report incidents.")
    agents = agents_visible_to(request.user)
    initial = {"agent": request.GET.get("agent")} if request.GET.get("agent") else None
    form = IncidentForm(request.POST or None, agents=agents, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident, created = services.incident_open_or_link(
                agent=data["agent"],
                severity=data["severity"],
                title=data["title"],
                failure_mode=data["failure_mode"],
                detection_source="person",
                opened_by=request.user,
                summary=data["summary"],
                customer_impact=data["customer_impact"],
                financial_impact_usd=data["financial_impact_usd"],
                run_ids=data["run_ids"],
            )
        except ValidationError as exc:
            form.add_error(None, _errors_text(exc))
        else:
            if created:
                messages.success(request, f"{incident.reference} opened.")
            else:
                messages.warning(
                    request,
                    f"{data['agent']} already has an active incident; your report was added to "
                    f"{incident.reference}'s timeline.",
                )
            return redirect(incident)
    return render(request, "incidents/incident_form.html", {"form": form}, status=400 if form.errors else 200)


def _detail_context(request, incident, **extra):
    can_respond = user_can_respond(request.user, incident)
    transitions = [
        {"status": s, "label": TRANSITION_LABELS[IncidentStatus(s)]} for s in ALLOWED_TRANSITIONS[incident.status]
    ]
    postmortem = Postmortem.objects.filter(incident=incident).first()
    context = {
        "incident": incident,
        "timeline": incident_timeline(incident),
        "transitions": transitions if can_respond else [],
        "can_respond": can_respond,
        "postmortem": postmortem,
        "action_items": postmortem.action_items.select_related("owner") if postmortem else [],
        "missing_to_close": services.incident_missing_for(incident=incident, to_status=IncidentStatus.CLOSED)
        if incident.status == IncidentStatus.RESOLVED
        else [],
        "note_form": NoteForm(),
    }
    context.update(extra)
    return context


@login_required
def incident_detail(request, pk: int):
    incident = _get_incident(request, pk)
    context = _detail_context(request, incident, replay=incident_replay(incident), link_form=LinkRunsForm())
    context["sections"] = page_sections_collect(incident_sections, request, incident)
    return render(request, "incidents/incident_detail.html", context)


def _live_fragment(request, incident, *, error: str = "", status: int = 200):
    incident.refresh_from_db()
    response = render(
        request, "incidents/htmx/live.html", _detail_context(request, incident, live_error=error), status=status
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_POST
def incident_transition(request, pk: int):
    incident = _get_incident(request, pk)
    _need_respond(request.user, incident)
    error = ""
    to_status = request.POST.get("to_status", "")
    try:
        services.incident_transition(
            incident_id=incident.pk, to_status=to_status, note=request.POST.get("note", ""), actor=request.user
        )
    except ValidationError as exc:
        error = _errors_text(exc)
    if request.htmx:
        return _live_fragment(request, incident, error=error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{incident.reference} is now {IncidentStatus(to_status).label.lower()}.")
    return redirect(incident)


@login_required
@require_POST
def incident_note(request, pk: int):
    incident = _get_incident(request, pk)
    _need_respond(request.user, incident)
    error = ""
    try:
        services.incident_add_note(incident_id=incident.pk, note=request.POST.get("note", ""), actor=request.user)
    except ValidationError as exc:
        error = _errors_text(exc)
    if request.htmx:
        return _live_fragment(request, incident, error=error)
    if error:
        messages.error(request, error)
    return redirect(incident)


@login_required
@require_POST
def incident_link_runs(request, pk: int):
    incident = _get_incident(request, pk)
    _need_respond(request.user, incident)
    form = LinkRunsForm(request.POST)
    if form.is_valid():
        try:
            added = services.incident_link_runs(
                incident_id=incident.pk, run_ids=form.cleaned_data["run_ids"], actor=request.user
            )
            messages.success(request, f"Linked {len(added)} run(s)." if added else "Those runs were already linked.")
        except ValidationError as exc:
            messages.error(request, _errors_text(exc))
    else:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    return redirect(reverse("incidents:incident_detail", args=[incident.pk]) + "#replay")


@login_required
@require_http_methods(["GET", "POST"])
def incident_edit(request, pk: int):
    incident = _get_incident(request, pk)
    _need_respond(request.user, incident)
    if incident.status == IncidentStatus.CLOSED:
        messages.error(request, f"{incident.reference} is closed; its record no longer changes.")
        return redirect(incident)
    form = IncidentEditForm(request.POST or None, instance=incident)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        note = data.pop("note", "")
        try:
            services.incident_update(incident_id=incident.pk, actor=request.user, note=note, **data)
        except ValidationError as exc:
            form.add_error(None, _errors_text(exc))
        else:
            messages.success(request, "Incident updated.")
            return redirect(incident)
    return render(
        request,
        "incidents/incident_edit.html",
        {"form": form, "incident": incident},
        status=400 if form.errors else 200,
    )


# --- postmortem ---------------------------------------------------------------------------


def _postmortem_save(request, incident, form) -> bool:
    """Save the sections (and publish when asked); False with the refusal on the form when
    publishing was refused (the sections were saved all the same: valid data is never lost)."""
    sections = {name: form.cleaned_data[name] for name in Postmortem.SECTIONS}
    try:
        services.postmortem_save(incident_id=incident.pk, actor=request.user, **sections)
        if request.POST.get("action") == "publish":
            services.postmortem_publish(incident_id=incident.pk, actor=request.user)
            messages.success(request, "Postmortem published.")
        else:
            messages.success(request, "Draft saved.")
    except ValidationError as exc:
        form.add_error(None, _errors_text(exc))
        return False
    return True


@login_required
@require_http_methods(["GET", "POST"])
def postmortem_edit(request, pk: int):
    incident = _get_incident(request, pk)
    postmortem = Postmortem.objects.filter(incident=incident).first()
    can_edit = user_can_respond(request.user, incident) and not (postmortem and postmortem.is_published)
    if request.method == "POST" and not can_edit:
        if postmortem and postmortem.is_published:
            messages.error(request, "This postmortem is published; it no longer changes.")
            return redirect("incidents:postmortem_edit", pk=incident.pk)
        raise PermissionDenied("You may read this postmortem but not edit it.")
    form = PostmortemForm(request.POST or None, instance=postmortem or Postmortem(incident=incident))
    if request.method == "POST" and form.is_valid() and _postmortem_save(request, incident, form):
        return redirect("incidents:postmortem_edit", pk=incident.pk)
    status = 400 if form.errors else 200
    postmortem = Postmortem.objects.filter(incident=incident).first()
    return render(
        request,
        "incidents/postmortem_form.html",
        {
            "incident": incident,
            "postmortem": postmortem,
            "form": form,
            "can_edit": can_edit,
            "can_respond": user_can_respond(request.user, incident),
            "item_form": ActionItemForm(),
            "action_items": postmortem.action_items.select_related("owner") if postmortem else [],
            "timeline": incident_timeline(incident),
        },
        status=status,
    )


@login_required
@require_POST
def action_item_add(request, pk: int):
    incident = _get_incident(request, pk)
    _need_respond(request.user, incident)
    form = ActionItemForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        services.action_item_add(
            incident_id=incident.pk, title=data["title"], due_on=data["due_on"], owner=data["owner"], actor=request.user
        )
        messages.success(request, "Action item added.")
        return redirect(reverse("incidents:postmortem_edit", args=[incident.pk]) + "#action-items")
    postmortem = Postmortem.objects.filter(incident=incident).first()
    return render(
        request,
        "incidents/postmortem_form.html",
        {
            "incident": incident,
            "postmortem": postmortem,
            "form": PostmortemForm(instance=postmortem or Postmortem(incident=incident)),
            "can_edit": not (postmortem and postmortem.is_published),
            "can_respond": True,
            "item_form": form,
            "action_items": postmortem.action_items.select_related("owner") if postmortem else [],
            "timeline": incident_timeline(incident),
        },
        status=400,
    )


@login_required
@require_POST
def action_item_update(request, item_pk: int):
    _need_view(request.user)
    item = get_object_or_404(action_items_visible_to(request.user), pk=item_pk)
    incident = item.postmortem.incident
    if not (user_can_respond(request.user, incident) or item.owner_id == request.user.pk):
        raise PermissionDenied("Only responders and the item's owner may change it.")
    form = ActionItemUpdateForm(request.POST)
    error = ""
    if form.is_valid():
        data = form.cleaned_data
        kwargs = {"state": data["state"] or None, "due_on": data["due_on"]}
        if "owner" in request.POST:
            kwargs["owner"] = data["owner"]
        item = services.action_item_update(item_id=item.pk, actor=request.user, **kwargs)
    else:
        error = " ".join(e for errs in form.errors.values() for e in errs)
    if request.htmx:
        item.refresh_from_db()
        response = render(
            request,
            "incidents/htmx/action_item_row.html",
            {"item": item, "can_change": True, "item_error": error, "show_incident": request.POST.get("ctx") == "list"},
        )
        patch_vary_headers(response, ["HX-Request"])
        return response
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Action item updated.")
    return redirect(request.POST.get("next") if request.POST.get("next") == reverse("incidents:action_items") else item)


@login_required
def action_item_list(request):
    _need_view(request.user)
    base = action_items_visible_to(request.user).order_by("due_on", "pk")
    data = request.GET.copy() if request.GET else {"state": "pending"}
    filterset = ActionItemFilterSet(data, queryset=base, request=request)
    items = filterset.qs if filterset.is_valid() else base.none()
    items = list(items[:500])
    for item in items:
        item.can_change = user_can_respond(request.user, item.postmortem.incident) or item.owner_id == request.user.pk
    return render(request, "incidents/action_item_list.html", {"filterset": filterset, "items": items})


@login_required
def metrics(request):
    _need_view(request.user)
    agents = agents_visible_to(request.user)
    base = incidents_visible_to(request.user)
    filterset = IncidentFilterSet(request.GET, queryset=base, agents=agents)
    qs = filterset.qs if filterset.is_valid() else base.none()
    return render(request, "incidents/metrics.html", {"rows": incident_metrics(qs), "filterset": filterset})


# --- kill switch --------------------------------------------------------------------------


@login_required
@require_POST
def kill_switch(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    if not user_can_operate_agent(request.user, agent):
        raise PermissionDenied("Only operators may pull the kill switch.")
    form = KillSwitchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Kill switch not pulled: " + " ".join(e for errs in form.errors.values() for e in errs))
        return redirect(agent.get_absolute_url() + "#incidents")
    incident, created = services.kill_switch_pull(
        agent=agent,
        actor=request.user,
        reason=form.cleaned_data["reason"],
        failure_mode=form.cleaned_data["failure_mode"] or "unclassified",
    )
    verb = "opened" if created else "linked"
    messages.warning(
        request, f"Kill switch pulled: {agent.name}'s side effects are off. Incident {incident.reference} {verb}."
    )
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Location"] = agent.get_absolute_url()
        return response
    return redirect(agent.get_absolute_url() + "#incidents")


@login_required
@require_http_methods(["GET", "POST"])
def fleet_kill_switch(request):
    if not user_can_pull_fleet_switch(request.user):
        raise PermissionDenied("Only operators may pull the fleet kill switch.")
    form = FleetKillSwitchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        incident, created = services.global_kill_switch_pull(actor=request.user, reason=form.cleaned_data["reason"])
        messages.warning(
            request,
            f"Fleet kill switch pulled: side effects are off for every agent. Incident {incident.reference} "
            f"{'opened' if created else 'linked'}.",
        )
        return redirect(incident)
    return render(
        request,
        "incidents/fleet_kill_switch.html",
        {"form": form, "global_controls": GlobalControls.load(), "reenable_form": ReenableForm()},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def reenable_request(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    if not user_can_request_reenable(request.user, agent):
        raise PermissionDenied("Only operators and the agent's owners may ask to re-enable side effects.")
    form = ReenableForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not requested: say why it is safe to turn side effects back on.")
        return redirect(agent.get_absolute_url() + "#incidents")
    try:
        change_request = services.side_effects_reenable_request(
            agent=agent, requester=request.user, justification=form.cleaned_data["justification"]
        )
    except ValidationError as exc:
        messages.error(request, _errors_text(exc))
        return redirect(agent.get_absolute_url() + "#incidents")
    messages.success(request, "Re-enable requested; two approvers other than you must agree before it applies.")
    url = getattr(change_request, "get_absolute_url", None)
    return redirect(url() if url else agent.get_absolute_url())


@login_required
@require_POST
def fleet_reenable_request(request):
    """The fleet page's "Request re-enable": a fleet_reenable change request (two approvers other
    than the requester; see approvals.fleet). Turning the fleet back on never happens here."""
    if not user_can_pull_fleet_switch(request.user):
        raise PermissionDenied("Only operators may ask to re-enable the fleet.")
    form = ReenableForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not requested: say why it is safe to turn side effects back on.")
        return redirect("incidents:fleet_kill_switch")
    try:
        change_request = change_request_create(
            agent=None,
            kind=FLEET_REENABLE,
            payload={},
            requester=request.user,
            justification=form.cleaned_data["justification"],
        )
    except ValidationError as exc:
        messages.error(request, _errors_text(exc))
        return redirect("incidents:fleet_kill_switch")
    except ApprovalError as exc:
        messages.error(request, exc.message)
        return redirect("incidents:fleet_kill_switch")
    messages.success(request, "Fleet re-enable requested; two approvers other than you must agree before it applies.")
    return redirect(change_request)
