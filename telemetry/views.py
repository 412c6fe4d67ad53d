"""Console pages: an agent's API keys (on its card) and a person's own API tokens."""

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

from .forms import KeyIssueForm, KeyRotateForm
from .panels import agent_keys_context


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
