"""Console pages of the action gate: policies (read by every role, proposed by the governance
board — each proposal is a two-person change request, applied as the next version), action
requests, and an agent's webhook settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from approvals.exceptions import ApprovalError
from approvals.services import change_request_create
from registry.models import Tool
from registry.permissions import user_can_edit_agent
from registry.selectors import agents_visible_to

from .backtest import policy_backtest
from .choices import ActionStatus
from .forms import BacktestForm, PolicyForm, ShadowForm, WebhookForm
from .models import AgentGateSettings
from .policy_change import ACTION_POLICY_CHANGE
from .selectors import (
    action_requests_visible_to,
    policies_overview,
    policy_findings,
    policy_versions,
    shadow_disagreements,
    shadow_running,
)
from .services import action_effective_status, gate_settings_update
from .shadow import ACTION_POLICY_SHADOW

EDIT_PERM = "actions.add_actionpolicyversion"
VIEW_PERM = "actions.view_actionpolicyversion"


def _require_view(user) -> None:
    if not user.has_perm(VIEW_PERM):
        raise PermissionDenied("You may not read action policies.")


@login_required
def index(request):
    _require_view(request.user)
    qs = action_requests_visible_to(request.user).order_by("-created_at")
    status = request.GET.get("status", "")
    errors = []
    if status:
        if status in ActionStatus.values:
            qs = qs.filter(status=status)
        else:
            errors.append(f"Unknown status {status!r}; showing every status.")
            status = ""
    agent_slug = request.GET.get("agent", "")
    if agent_slug:
        qs = qs.filter(agent__slug=agent_slug)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    for action in page.object_list:
        action.effective_status = action_effective_status(action)
    context = {
        "tools": policies_overview(),
        "page": page,
        "status": status,
        "agent_slug": agent_slug,
        "statuses": ActionStatus.choices,
        "errors": errors,
        "can_edit": request.user.has_perm(EDIT_PERM),
    }
    return render(request, "actions/index.html", context)


@login_required
def policy_detail(request, tool: str):
    _require_view(request.user)
    tool = get_object_or_404(Tool, name=tool)
    versions = list(policy_versions(tool=tool))
    shown = versions[0] if versions else None
    wanted = request.GET.get("version")
    if wanted:
        shown = next((v for v in versions if str(v.number) == wanted), None)
        if shown is None:
            raise Http404("No such policy version.")
    shadow = shadow_running(tool=tool)
    context = {
        "tool": tool,
        "versions": versions,
        "shown": shown,
        "current": versions[0] if versions else None,
        "can_edit": request.user.has_perm(EDIT_PERM),
        "shadow": shadow,
        "shadow_table": shadow_disagreements(shadow=shadow, user=request.user) if shadow else None,
    }
    return render(request, "actions/policy_detail.html", context)


def _propose(request, tool: Tool, kind: str, payload: dict, justification: str, form=None):
    """Start the two-person request; on success redirect to it, else put the errors on ``form``
    (or in a message) and return None."""
    try:
        change = change_request_create(
            agent=None, kind=kind, payload=payload, requester=request.user, justification=justification
        )
    except ValidationError as exc:
        for name, msgs in exc.message_dict.items():
            for message in msgs:
                if form is not None:
                    form.add_error(name if name in form.fields else None, message)
                else:
                    messages.error(request, message)
        return None
    except ApprovalError as exc:
        if form is not None:
            form.add_error(None, exc.message)
        else:
            messages.error(request, exc.message)
        return None
    messages.success(request, f"Proposed as request #{change.pk}; nothing changes until two approvers agree.")
    return redirect(change)


@login_required
@require_http_methods(["GET", "POST"])
def shadow_propose(request, tool: str):
    """Propose rules to run in shadow beside the policy in force."""
    if not request.user.has_perm(EDIT_PERM):
        raise PermissionDenied("Only the governance board proposes a shadow policy.")
    tool = get_object_or_404(Tool, name=tool)
    current = policy_versions(tool=tool).first()
    running = shadow_running(tool=tool)
    initial = {"rules_source": running.rules_source if running else (current.rules_source if current else "")}
    form = ShadowForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        payload = {"tool": tool.name, "rules_source": data["rules_source"], "note": data["note"]}
        done = _propose(request, tool, ACTION_POLICY_SHADOW, payload, data["note"], form=form)
        if done is not None:
            return done
    status = 400 if form.errors else 200
    context = {"form": form, "tool": tool, "current": current, "running": running}
    return render(request, "actions/shadow_form.html", context, status=status)


@login_required
@require_POST
def shadow_promote(request, tool: str):
    """Propose the running shadow's rules as the next version (the two-person policy change)."""
    if not request.user.has_perm(EDIT_PERM):
        raise PermissionDenied("Only the governance board proposes a policy.")
    tool = get_object_or_404(Tool, name=tool)
    shadow = shadow_running(tool=tool)
    current = policy_versions(tool=tool).first()
    if shadow is None or current is None:
        messages.error(request, f"{tool.name} has no shadow running.")
        return redirect("actions:policy_detail", tool=tool.name)
    payload = {
        "tool": tool.name,
        "fields_source": current.fields_source,
        "rules_source": shadow.rules_source,
        "redact_fields": current.redact_fields,
        "retention_days": current.retention_days,
        "note": f"Promote shadow #{shadow.pk}: {shadow.note}"[:500],
    }
    done = _propose(request, tool, ACTION_POLICY_CHANGE, payload, f"Promote {tool.name} shadow #{shadow.pk}.")
    return done or redirect("actions:policy_detail", tool=tool.name)


@login_required
@require_POST
def shadow_stop(request, tool: str):
    """Propose stopping the running shadow (its decisions stay)."""
    if not request.user.has_perm(EDIT_PERM):
        raise PermissionDenied("Only the governance board stops a shadow policy.")
    tool = get_object_or_404(Tool, name=tool)
    payload = {"tool": tool.name, "stop": True, "note": "Stop the shadow."}
    done = _propose(request, tool, ACTION_POLICY_SHADOW, payload, f"Stop {tool.name}'s shadow policy.")
    return done or redirect("actions:policy_detail", tool=tool.name)


@login_required
@require_http_methods(["GET", "POST"])
def policy_edit(request, tool: str):
    if not request.user.has_perm(EDIT_PERM):
        raise PermissionDenied("Only the governance board edits action policies.")
    tool = get_object_or_404(Tool, name=tool)
    current = policy_versions(tool=tool).first()
    form = PolicyForm(request.POST or None, initial=PolicyForm.initial_from(current))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # Not saved as a version: proposed, and in force only once two other people approve.
            change = change_request_create(
                agent=None,
                kind=ACTION_POLICY_CHANGE,
                payload={
                    "tool": tool.name,
                    "fields_source": data["fields_source"],
                    "rules_source": data["rules_source"],
                    "redact_fields": data["redact_fields"],
                    "retention_days": data["retention_days"],
                    "note": data["note"],
                },
                requester=request.user,
                justification=data["note"] or f"New {tool.name} policy.",
            )
        except ValidationError as exc:
            for name, msgs in exc.message_dict.items():
                for message in msgs:
                    form.add_error(name if name in form.fields else None, message)
        except ApprovalError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                f"Proposed as request #{change.pk}; {tool.name}'s policy in force stays until two approvers agree.",
            )
            for finding in policy_findings(
                tool=tool, fields_source=data["fields_source"], rules_source=data["rules_source"]
            ):
                messages.warning(request, f"Static analysis: {finding.describe()}")
            return redirect(change)
    status = 400 if form.errors else 200
    return render(request, "actions/policy_form.html", {"form": form, "tool": tool, "current": current}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def policy_backtest_page(request, tool: str):
    """What if: replay the tool's recorded requests of a period against a draft (a read: every
    role that reads policies may run it; examples only from the agents the user may see)."""
    _require_view(request.user)
    tool = get_object_or_404(Tool, name=tool)
    current = policy_versions(tool=tool).first()
    today = timezone.now().date()
    initial = {**PolicyForm.initial_from(current), "start": today - timedelta(days=6), "end": today}
    form = BacktestForm(request.POST or None, initial=initial)
    result = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        start = datetime.combine(data["start"], time.min, tzinfo=UTC)
        end = datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=UTC)
        visible = set(agents_visible_to(request.user).values_list("pk", flat=True))
        result = policy_backtest(
            tool=tool, fields=data["fields"], rules=data["rules"], start=start, end=end, example_agents=visible
        )
    status = 400 if form.errors else 200
    context = {"form": form, "tool": tool, "current": current, "result": result}
    return render(request, "actions/policy_backtest.html", context, status=status)


@login_required
def request_detail(request, pk: uuid.UUID):
    action = get_object_or_404(action_requests_visible_to(request.user).select_related("change_request"), pk=pk)
    action.effective_status = action_effective_status(action)
    return render(request, "actions/request_detail.html", {"action": action})


@login_required
@require_POST
def webhook_update(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    if not user_can_edit_agent(request.user, agent):
        raise PermissionDenied(f"You may not change {agent.name}.")
    form = WebhookForm(request.POST)
    if not form.is_valid():
        gate = AgentGateSettings.objects.filter(agent=agent).first()
        return render(request, "actions/webhook_form.html", {"form": form, "agent": agent, "gate": gate}, status=400)
    gate_settings_update(
        agent=agent,
        webhook_url=form.cleaned_data["webhook_url"],
        rotate_secret=form.cleaned_data["rotate_secret"],
        actor=request.user,
    )
    messages.success(request, "Webhook settings saved." if form.cleaned_data["webhook_url"] else "Webhook removed.")
    return redirect(agent)
