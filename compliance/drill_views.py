"""Kill-switch drill pages: the list with the start form, one drill, finishing it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from registry.permissions import user_can_operate_agent
from registry.selectors import agents_visible_to

from . import drills as services
from .models import KillSwitchDrill
from .workbench_forms import DrillFinishForm, DrillStartForm


def _operable(user):
    visible = agents_visible_to(user).exclude(status="retired").order_by("name")
    return visible.filter(pk__in=[a.pk for a in visible if user_can_operate_agent(user, a)])


def _list(request, form=None, status: int = 200):
    visible = agents_visible_to(request.user)
    operable = _operable(request.user)
    drills = KillSwitchDrill.objects.filter(agent__in=visible).select_related("agent", "started_by")[:100]
    context = {"drills": drills, "form": form or DrillStartForm(agents=operable), "can_start": operable.exists()}
    return render(request, "compliance/drill_list.html", context, status=status)


@login_required
def drill_list(request):
    return _list(request)


@login_required
@require_POST
def drill_start(request):
    operable = _operable(request.user)
    if not operable.exists():
        raise PermissionDenied("Only operators may run kill-switch drills.")
    form = DrillStartForm(request.POST, agents=operable)
    if form.is_valid():
        try:
            drill = services.drill_start(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, f"Drill started on {drill.agent.name}: the switch is pulled.")
            return redirect("compliance:drill_detail", pk=drill.pk)
    return _list(request, form, status=400)


def _drill(request, pk: int) -> KillSwitchDrill:
    return get_object_or_404(
        KillSwitchDrill.objects.filter(agent__in=agents_visible_to(request.user)).select_related("agent"), pk=pk
    )


@login_required
def drill_detail(request, pk: int, form=None, status: int = 200):
    drill = _drill(request, pk)
    context = {
        "drill": drill,
        "form": form or DrillFinishForm(),
        "can_operate": user_can_operate_agent(request.user, drill.agent),
    }
    return render(request, "compliance/drill_detail.html", context, status=status)


@login_required
@require_POST
def drill_finish(request, pk: int):
    drill = _drill(request, pk)
    if not user_can_operate_agent(request.user, drill.agent):
        raise PermissionDenied("Only the agent's operators may finish a drill.")
    form = DrillFinishForm(request.POST)
    if form.is_valid():
        try:
            services.drill_finish(drill_id=drill.pk, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, "Drill finished and measured.")
            return redirect("compliance:drill_detail", pk=drill.pk)
    return drill_detail(request, pk, form=form, status=400)
