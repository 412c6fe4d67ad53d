"""Intake pages: list and funnel, propose, read and score, turn into a proposed agent."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from registry.forms import AgentForm

from . import intake as rules
from .intake_forms import IntakeForm, IntakeScoreForm
from .models import Intake


@login_required
def intake_list(request):
    intakes = Intake.objects.select_related("proposer", "agent", "team").order_by("-created_at")[:200]
    return render(
        request,
        "compliance/intake_list.html",
        {"intakes": intakes, "funnel": rules.intake_funnel(), "threshold": rules.GO_THRESHOLD},
    )


@login_required
@require_http_methods(["GET", "POST"])
def intake_create(request):
    form = IntakeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        intake = rules.intake_submit(form=form, proposer=request.user)
        messages.success(request, f"Intake “{intake.title}” submitted; the governance board scores it next.")
        return redirect(intake)
    return render(request, "compliance/intake_form.html", {"form": form}, status=400 if form.errors else 200)


def _detail(request, intake, *, score_form=None, error=None, status=200):
    can_score = request.user.has_perm(rules.SCORE_PERMISSION) and intake.proposer_id != request.user.pk
    if score_form is None and can_score:
        initial = {name: getattr(intake, name) for name in Intake.SCORE_FIELDS + Intake.BONUS_FIELDS}
        score_form = IntakeScoreForm(initial={**initial, "note": intake.score_note})
    total = intake.core_total
    context = {
        "intake": intake,
        "dimensions": [(d, getattr(intake, d.answer_field), getattr(intake, d.score_field)) for d in rules.DIMENSIONS],
        "total": total,
        "verdict": rules.intake_verdict(total),
        "threshold": rules.GO_THRESHOLD,
        "below_volume_bar": intake.daily_volume < rules.VOLUME_BAR_PER_DAY,
        "score_form": score_form if can_score else None,
        "convert_refusal": rules.intake_may_convert(intake),
        "can_convert": rules.intake_may_user_convert(intake, request.user),
        "can_withdraw": intake.proposer_id == request.user.pk and intake.status in ("submitted", "scored"),
        "error": error,
    }
    return render(request, "compliance/intake_detail.html", context, status=status)


@login_required
def intake_detail(request, pk: int):
    return _detail(request, get_object_or_404(Intake.objects.select_related("proposer", "agent"), pk=pk))


@login_required
@require_POST
def intake_score(request, pk: int):
    intake = get_object_or_404(Intake, pk=pk)
    if not request.user.has_perm(rules.SCORE_PERMISSION):
        raise PermissionDenied("Only the governance board scores intakes.")
    form = IntakeScoreForm(request.POST)
    if not form.is_valid():
        return _detail(request, intake, score_form=form, status=400)
    try:
        rules.intake_score(
            intake_id=intake.pk, scorer=request.user, scores=form.scores(), note=form.cleaned_data["note"]
        )
    except rules.IntakeRefused as exc:
        return _detail(request, intake, score_form=form, error=exc.message, status=409)
    messages.success(request, "Scores saved.")
    return redirect(intake)


@login_required
@require_POST
def intake_withdraw(request, pk: int):
    intake = get_object_or_404(Intake, pk=pk)
    try:
        rules.intake_withdraw(intake_id=intake.pk, user=request.user)
    except rules.IntakeRefused as exc:
        return _detail(request, intake, error=exc.message, status=409)
    messages.success(request, "Intake withdrawn.")
    return redirect(intake)


@login_required
@require_http_methods(["GET", "POST"])
def intake_convert(request, pk: int):
    """The registry's agent form, pre-filled from the intake; saving registers a proposed agent."""
    intake = get_object_or_404(Intake, pk=pk)
    if not rules.intake_may_user_convert(intake, request.user):
        raise PermissionDenied("Only the proposer or the board, with the right to register agents, does this.")
    refusal = rules.intake_may_convert(intake)
    if refusal:
        return _detail(request, intake, error=refusal, status=409)
    form = AgentForm(request.POST or None, initial=rules.intake_agent_initial(intake))
    if request.method == "POST" and form.is_valid():
        try:
            agent = rules.intake_convert(intake_id=intake.pk, agent_form=form, user=request.user)
        except rules.IntakeRefused as exc:
            return _detail(request, intake, error=exc.message, status=409)
        messages.success(request, f"Agent {agent.name} registered as proposed, from intake “{intake.title}”.")
        return redirect(agent)
    status = 400 if form.errors else 200
    return render(request, "compliance/intake_convert.html", {"form": form, "intake": intake}, status=status)
