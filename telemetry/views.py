"""Console pages: an agent's API keys (on its card), a person's own API tokens, a run with its
OpenTelemetry trace, and the discovery queue (with the organisation's discovery keys)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from registry import services as registry_services
from registry.models import AgentAPIKey, UserAPIKey
from registry.permissions import user_can_edit_agent, user_can_operate_agent
from registry.selectors import agents_visible_to

from .choices import DiscoveryKind, DiscoveryState
from .discovery import (
    DiscoveryConflict,
    agent_initial,
    discovery_block,
    discovery_key_issue,
    discovery_key_revoke,
    discovery_promote_agent,
    discovery_promote_tool,
)
from .forms import CatalogToolForm, DiscoveredAgentForm, KeyIssueForm, KeyRotateForm
from .models import Discovery, DiscoveryKey, Run
from .panels import agent_keys_context
from .selectors import discoveries, run_trace


def user_can_manage_agent_keys(user, agent) -> bool:
    """Owners (and the board) who may edit the agent, and operators who run it, manage its keys."""
    return user_can_edit_agent(user, agent) or user_can_operate_agent(user, agent)


def _managed_agent(request, slug):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    if not user_can_manage_agent_keys(request.user, agent):
        raise PermissionDenied("You may not manage this agent's keys.")
    return agent


def _keys_answer(request, agent, *, form=None, new_secret=None, new_key=None, status=200):
    """The keys section (HTMX) or a full page; a new secret is shown in this answer only."""
    section = agent_keys_context(request, agent, form=form)
    template = "telemetry/htmx/agent_keys.html" if request.htmx else "telemetry/agent_keys_page.html"
    context = {"section": section, "agent": agent, "new_secret": new_secret, "new_key": new_key}
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request"
    # The secret must not be kept by a shared cache or the browser's back button.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def agent_key_issue(request, slug: str):
    agent = _managed_agent(request, slug)
    if request.method == "GET":
        return _keys_answer(request, agent)
    form = KeyIssueForm(request.POST)
    if not form.is_valid():
        return _keys_answer(request, agent, form=form, status=400)
    key, secret = registry_services.agent_key_issue(
        agent=agent,
        name=form.cleaned_data["name"],
        actor=request.user,
        expires_in_days=form.cleaned_data["expires_in_days"],
    )
    return _keys_answer(request, agent, new_secret=secret, new_key=key)


@login_required
@require_POST
def agent_key_rotate(request, slug: str, prefix: str):
    agent = _managed_agent(request, slug)
    key = get_object_or_404(AgentAPIKey, agent=agent, prefix=prefix)
    form = KeyRotateForm(request.POST)
    if not form.is_valid():
        return _keys_answer(request, agent, status=400)
    try:
        new, secret = registry_services.agent_key_rotate(
            agent=agent, key_id=key.pk, actor=request.user, grace_hours=form.cleaned_data["grace_hours"]
        )
    except registry_services.CredentialError as exc:
        messages.error(request, str(exc))
        return _keys_answer(request, agent, status=409)
    return _keys_answer(request, agent, new_secret=secret, new_key=new)


@login_required
@require_POST
def agent_key_revoke(request, slug: str, prefix: str):
    agent = _managed_agent(request, slug)
    key = get_object_or_404(AgentAPIKey, agent=agent, prefix=prefix)
    registry_services.agent_key_revoke(agent=agent, key_id=key.pk, actor=request.user)
    if request.htmx:
        return _keys_answer(request, agent)
    messages.success(request, f"Key {key.prefix}… revoked.")
    return redirect(agent)


@login_required
@require_http_methods(["GET", "POST"])
def user_tokens(request):
    form = KeyIssueForm(request.POST or None)
    new_secret = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            _key, new_secret = registry_services.user_key_issue(
                user=request.user, name=form.cleaned_data["name"], expires_in_days=form.cleaned_data["expires_in_days"]
            )
            form = KeyIssueForm()
        else:
            status = 400
    tokens = UserAPIKey.objects.filter(user=request.user).order_by("-created")
    response = render(
        request, "telemetry/user_tokens.html", {"form": form, "tokens": tokens, "new_secret": new_secret}, status=status
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def user_token_revoke(request, prefix: str):
    key = get_object_or_404(UserAPIKey, user=request.user, prefix=prefix)
    registry_services.user_key_revoke(user=request.user, key_id=key.pk)
    messages.success(request, f"Token {key.prefix}… revoked.")
    return redirect("telemetry:user_tokens")


# --- a run and its trace -------------------------------------------------------------------------


@login_required
def run_detail(request, slug: str, run_id: str):
    """One run as reported, with its whole OpenTelemetry trace as a tree with timings."""
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    run = get_object_or_404(Run.objects.select_related("version"), agent=agent, run_id=run_id)
    return render(request, "telemetry/run_detail.html", {"agent": agent, "run": run, "trace": run_trace(run)})


# --- the discovery queue ---------------------------------------------------------------------------


def _require(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied("Only the governance board reviews discoveries.")


@login_required
def discovery_list(request):
    _require(request, "telemetry.view_discovery")
    state = request.GET.get("state", DiscoveryState.UNREVIEWED)
    if state not in (*DiscoveryState.values, "all"):
        state = DiscoveryState.UNREVIEWED
    context = {
        "entries": list(discoveries(state=None if state == "all" else state)[:200]),
        "state": state,
        "states": [*DiscoveryState.choices, ("all", "All")],
        "can_review": request.user.has_perm("telemetry.review_discovery"),
        "can_issue": request.user.has_perm("telemetry.add_discoverykey"),
        "keys": list(DiscoveryKey.objects.order_by("-created")[:50]),
        "key_form": KeyIssueForm(),
        "new_secret": None,
    }
    return _discovery_answer(request, context)


def _discovery_answer(request, context, status: int = 200):
    response = render(request, "telemetry/discovery_list.html", context, status=status)
    response["Cache-Control"] = "no-store"  # a new key's secret is on the page once
    return response


def _entry(request, pk: int) -> Discovery:
    _require(request, "telemetry.review_discovery")
    return get_object_or_404(Discovery, pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def discovery_promote(request, pk: int):
    """Promote an entry: an agent (registered as proposed) or a catalog tool, pre-filled."""
    entry = _entry(request, pk)
    if entry.kind == DiscoveryKind.MODEL:
        raise PermissionDenied("A model is pinned by a new agent version (a change request), not promoted here.")
    form_class = DiscoveredAgentForm if entry.kind == DiscoveryKind.AGENT else CatalogToolForm
    initial = agent_initial(entry) if entry.kind == DiscoveryKind.AGENT else {"name": entry.name[:120]}
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and entry.state == DiscoveryState.UNREVIEWED and form.is_valid():
        promote = discovery_promote_agent if entry.kind == DiscoveryKind.AGENT else discovery_promote_tool
        try:
            promote(discovery_id=entry.pk, form=form, actor=request.user)
        except DiscoveryConflict as exc:
            messages.error(request, str(exc))
            return redirect("telemetry:discovery_list")
        messages.success(request, f"{entry} promoted into the registry.")
        return redirect("telemetry:discovery_list")
    status = 400 if request.method == "POST" else 200
    return render(request, "telemetry/discovery_promote.html", {"entry": entry, "form": form}, status=status)


@login_required
@require_POST
def discovery_block_view(request, pk: int):
    entry = _entry(request, pk)
    try:
        discovery_block(discovery_id=entry.pk, actor=request.user)
    except DiscoveryConflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{entry} blocked: its spans are now refused.")
    return redirect("telemetry:discovery_list")


@login_required
@require_POST
def discovery_key_issue_view(request):
    _require(request, "telemetry.add_discoverykey")
    form = KeyIssueForm(request.POST)
    response_context = {
        "entries": list(discoveries()[:200]),
        "state": DiscoveryState.UNREVIEWED,
        "states": [*DiscoveryState.choices, ("all", "All")],
        "can_review": request.user.has_perm("telemetry.review_discovery"),
        "can_issue": True,
        "key_form": form,
        "new_secret": None,
    }
    status = 400
    if form.is_valid():
        _key, response_context["new_secret"] = discovery_key_issue(
            name=form.cleaned_data["name"], actor=request.user, expires_in_days=form.cleaned_data["expires_in_days"]
        )
        response_context["key_form"] = KeyIssueForm()
        status = 200
    response_context["keys"] = list(DiscoveryKey.objects.order_by("-created")[:50])
    return _discovery_answer(request, response_context, status)


@login_required
@require_POST
def discovery_key_revoke_view(request, prefix: str):
    _require(request, "telemetry.change_discoverykey")
    key = get_object_or_404(DiscoveryKey, prefix=prefix)
    discovery_key_revoke(key_id=key.pk, actor=request.user)
    messages.success(request, f"Discovery key {key.prefix}… revoked.")
    return redirect("telemetry:discovery_list")
