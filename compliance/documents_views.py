"""Document pages: an agent's documents and the gate's state, upload, download, the agent card exports."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from registry.permissions import user_can_edit_agent
from registry.selectors import agents_visible_to

from . import documents as rules
from .documents_card import agent_card_a2a
from .documents_forms import DocumentForm
from .models import AgentDocument


def _agent(request, slug: str):
    return get_object_or_404(agents_visible_to(request.user), slug=slug)


def _document_add(request, agent, form) -> AgentDocument | None:
    """The form's document added through the rule, or None with the rule's refusal on the form."""
    data = form.cleaned_data
    try:
        return rules.document_add(
            agent=agent,
            kind=data["kind"],
            title=data["title"],
            owner=data["owner"],
            review_due=data["review_due"],
            user=request.user,
            upload=data.get("file"),
            url=data.get("url") or "",
            note=data.get("note") or "",
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None


@login_required
@require_http_methods(["GET", "POST"])
def agent_documents(request, slug: str):
    agent = _agent(request, slug)
    form = None
    if user_can_edit_agent(request.user, agent):
        form = DocumentForm(request.POST or None, request.FILES or None, initial={"owner": agent.owner_id})
        if request.method == "POST" and form.is_valid() and (doc := _document_add(request, agent, form)):
            messages.success(request, f"{doc.get_kind_display()} version {doc.version} added.")
            return redirect("compliance:agent_documents", slug=agent.slug)
    elif request.method == "POST":
        raise PermissionDenied("You may not add documents to this agent.")
    context = {
        "agent": agent,
        "states": rules.documents_required_state(agent),
        "documents": AgentDocument.objects.filter(agent=agent).select_related("owner", "uploaded_by"),
        "form": form,
        "failure_modes": rules.RUNBOOK_FAILURE_MODES,
    }
    return render(request, "compliance/documents.html", context, status=400 if form and form.errors else 200)


@login_required
def document_download(request, slug: str, pk: int):
    agent = _agent(request, slug)
    doc = get_object_or_404(AgentDocument, agent=agent, pk=pk)
    if not doc.file:
        raise Http404("This document is a link, not a file.")
    # Always a download, never rendered inline: an uploaded SVG or HTML must not run in our origin.
    response = FileResponse(doc.file.open("rb"), as_attachment=True, filename=doc.file.name.rsplit("/", 1)[-1])
    response["Content-Type"] = doc.content_type or "application/octet-stream"
    return response


@login_required
def agent_card_json(request, slug: str):
    agent = _agent(request, slug)
    response = JsonResponse(
        agent_card_a2a(agent, base_url=request.build_absolute_uri("/")), json_dumps_params={"indent": 2}
    )
    response["Content-Disposition"] = f'attachment; filename="{agent.slug}-agent-card.json"'
    return response


@login_required
def agent_card_print(request, slug: str):
    agent = _agent(request, slug)
    card = agent_card_a2a(agent, base_url=request.build_absolute_uri("/"))
    return render(
        request,
        "compliance/agent_card_print.html",
        {"agent": agent, "card": card, "states": rules.documents_required_state(agent)},
    )
