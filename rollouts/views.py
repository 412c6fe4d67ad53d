"""Rollouts pages: an agent's plans, shadow against production, A/B lift; the rollback button.
Views parse and call; the rules live in services and selectors."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from approvals.services import user_may_request
from registry.permissions import user_can_operate_agent
from registry.selectors import agents_visible_to

from . import selectors, services
from .forms import LiftForm, PlanCancelForm, RollbackForm, ShadowForm


@login_required
def index(request):
    """Plans in progress on the agents the person sees, and a way to each agent's comparisons."""
    agents = agents_visible_to(request.user)
    return render(
        request,
        "rollouts/index.html",
        {"plans": selectors.plans_in_progress(agents=agents), "agents": agents.order_by("name")},
    )


def _with_timeline(plan):
    plan.timeline_rows = selectors.plan_timeline(plan)
    return plan


@login_required
def agent_rollouts(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    form = ShadowForm(request.GET or None)
    days = form.cleaned_data["days"] if form.is_valid() else 14
    now = timezone.now()
    return render(
        request,
        "rollouts/agent.html",
        {
            "agent": agent,
            "plans": [_with_timeline(plan) for plan in selectors.plans_of(agent=agent)[:10]],
            "shadow_form": form,
            "days": days,
            "shadow_days": selectors.shadow_vs_production(agent=agent, start=now - timedelta(days=days), end=now),
            "shadow_versions": selectors.shadow_versions(agent=agent),
            "can_operate": user_can_operate_agent(request.user, agent),
            "can_cancel": services.may_cancel_plan(request.user, agent),
            # The "request a canary plan" links lead to a form only requesters may open.
            "can_request_plan": user_may_request(request.user, agent, "rollout_plan"),
            "rollback_form": RollbackForm(auto_id="rb_%s"),
        },
    )


@login_required
def lift(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    form = LiftForm(request.GET or None, agent=agent)
    result = None
    if form.is_bound and form.is_valid():
        now = timezone.now()
        versions = {
            v.label: v for v in agent.versions.filter(label__in=[form.cleaned_data["a"], form.cleaned_data["b"]])
        }
        result = selectors.version_lift(
            agent=agent,
            a=versions[form.cleaned_data["a"]],
            b=versions[form.cleaned_data["b"]],
            start=now - timedelta(days=form.cleaned_data["days"]),
            end=now,
        )
    return render(request, "rollouts/lift.html", {"agent": agent, "form": form, "result": result})


@login_required
@require_POST
def rollback(request, slug: str):
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    if not user_can_operate_agent(request.user, agent):
        raise PermissionDenied("Only operators may roll an agent back.")
    form = RollbackForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not rolled back: " + " ".join(e for errs in form.errors.values() for e in errs))
        return redirect(agent.get_absolute_url() + "#rollouts")
    try:
        previous, rolled, incident, created = services.rollback_to_previous(
            agent=agent, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, "Not rolled back: " + " ".join(exc.messages))
        return redirect(agent.get_absolute_url() + "#rollouts")
    verb = "opened" if created else "linked"
    messages.warning(
        request,
        f"{agent.name} rolled back from {rolled.label} to {previous.label}. Incident {incident.reference} {verb}. "
        f"Going forward to {rolled.label} again is a go-live request.",
    )
    return redirect(agent.get_absolute_url() + "#rollouts")


@login_required
@require_POST
def plan_cancel(request, slug: str, pk: int):
    """Cancel a halted plan (one operator or the board, with a reason); the canary stays put."""
    agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
    plan = get_object_or_404(agent.rollout_plans, pk=pk)
    if not services.may_cancel_plan(request.user, agent):
        raise PermissionDenied("Only an operator of this agent or the governance board may cancel its plan.")
    form = PlanCancelForm(request.POST)
    back = redirect("rollouts:agent", slug=agent.slug)
    if not form.is_valid():
        messages.error(request, "Not cancelled: " + " ".join(e for errs in form.errors.values() for e in errs))
        return back
    try:
        services.plan_cancel(plan_id=plan.pk, actor=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, "Not cancelled: " + " ".join(exc.messages))
        return back
    messages.success(
        request,
        f"Rollout plan of {plan.version.label} cancelled; the canary stays at {agent.canary_share_pct} %. "
        "Going forward again is a new rollout plan request, with its approvals.",
    )
    return back
