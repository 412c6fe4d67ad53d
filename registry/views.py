from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.views.decorators.http import require_http_methods

from . import services
from .choices import VersionState
from .extensions import agent_card_sections, page_sections_collect
from .filtersets import AgentFilterSet
from .forms import AgentForm, AgentVersionForm
from .governance import governed_kind_for
from .models import Agent, GlobalControls
from .permissions import user_can_edit_agent, user_can_operate_agent
from .selectors import agent_history, agents_visible_to


@login_required
def agent_list(request):
    filterset = AgentFilterSet(request.GET, queryset=agents_visible_to(request.user))
    agents = filterset.qs if filterset.is_valid() else agents_visible_to(request.user).none()
    return render(
        request,
        "registry/agent_list.html",
        {"filterset": filterset, "agents": agents, "can_add": request.user.has_perm("registry.add_agent")},
    )


@login_required
def agent_detail(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    versions = agent.versions.prefetch_related("grants__tool").order_by("-created_at")
    deployed = next((v for v in versions if v.state == VersionState.DEPLOYED), None)
    context = {
        "agent": agent,
        "versions": versions,
        "deployed": deployed,
        "tools": deployed.grants.all() if deployed else [],
        "history": agent_history(agent),
        "global_controls": GlobalControls.load(),
        "can_edit": user_can_edit_agent(request.user, agent),
        "can_operate": user_can_operate_agent(request.user, agent),
        "agent_card_sections": page_sections_collect(agent_card_sections, request, agent),
    }
    return render(request, "registry/agent_detail.html", context)


@login_required
@permission_required("registry.add_agent", raise_exception=True)
@require_http_methods(["GET", "POST"])
def agent_create(request):
    form = AgentForm(request.POST or None, initial={"owner": request.user})
    if request.method == "POST" and form.is_valid():
        agent = services.agent_save_from_form(form=form, user=request.user)
        messages.success(request, f"Agent {agent.name} registered.")
        return redirect(agent)
    return render(
        request, "registry/agent_form.html", {"form": form, "agent": None}, status=400 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def agent_edit(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    if not user_can_edit_agent(request.user, agent):
        raise PermissionDenied("You may not edit this agent.")
    form = AgentForm(request.POST or None, instance=agent)
    if request.method == "POST" and form.is_valid():
        proposals = form.governed_proposals()
        services.agent_save_from_form(form=form, user=request.user)
        if not proposals:
            messages.success(request, "Changes saved.")
            return redirect(agent)
        # Governed values were not saved: offer their request, pre-filled, one click away.
        links = [_request_change_url(agent, kind, values) for kind, values in proposals.items()]
        names = ", ".join(
            str(Agent._meta.get_field(name).verbose_name) for values in proposals.values() for name in values
        )
        messages.warning(
            request,
            f"Descriptive changes saved. {capfirst(names)} changed only through an approved request: "
            "confirm it below." + (f" Also request: {' '.join(links[1:])}" if len(links) > 1 else ""),
        )
        return redirect(links[0])
    context = {"form": form, "agent": agent, "request_links": _request_links(agent, form)}
    return render(request, "registry/agent_form.html", context, status=400 if form.errors else 200)


def _request_change_url(agent: Agent, kind: str, values: dict | None = None) -> str:
    """The change-request form for ``kind`` on ``agent``, pre-filled with ``values`` (payload form)."""
    url = reverse("approvals:request_start", kwargs={"slug": agent.slug, "kind": kind})
    return f"{url}?{urlencode(values, doseq=True)}" if values else url


def _request_links(agent: Agent, form: AgentForm) -> dict[str, str]:
    """Field name -> its "Request change" link, for the governed fields the edit form shows read-only."""
    return {
        name: _request_change_url(agent, kind, {})
        for name in form.governed_names
        if (kind := governed_kind_for(Agent, name)) is not None
    }


@login_required
@require_http_methods(["GET", "POST"])
def version_create(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    if not user_can_edit_agent(request.user, agent):
        raise PermissionDenied("You may not add versions to this agent.")
    form = AgentVersionForm(request.POST or None, agent=agent)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            data = form.cleaned_data
            version = services.version_create(
                agent=agent,
                label=data["label"],
                model_provider=data["model_provider"],
                model_name=data["model_name"],
                prompt_ref=data["prompt_ref"],
                policy_version=data["policy_version"],
                changelog=data["changelog"],
                tools={tool: {} for tool in data["tools"]},
                created_by=request.user,
            )
        messages.success(request, f"Draft version {version.label} created.")
        return redirect(agent)
    return render(
        request, "registry/version_form.html", {"form": form, "agent": agent}, status=400 if form.errors else 200
    )
