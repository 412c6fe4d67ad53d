"""Monitors pages: parse, call a service, render. Rules live in ``services`` and ``registry.channels``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from registry.channel_models import AlertChannel, AlertPreference
from registry.channels import ALERT_KINDS, alert_channel_create, alert_preferences_set
from registry.models import Agent
from registry.selectors import agents_visible_to

from . import services
from .forms import AlertChannelForm, MonitorForm, PreferencesForm, SLOForm
from .models import SLO, Monitor


def _definable_agents(user):
    """The agents this user may define monitors and SLOs for (``services.may_define_for``)."""
    visible = agents_visible_to(user)
    if user.has_perm("monitors.add_monitor"):
        return visible
    return Agent.objects.filter(pk__in=[a.pk for a in visible if services.may_define_for(user, a)])


def _errors_to_form(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
def index(request):
    """SLOs of the agents the user sees, and the monitors watching them, the teams or the portfolio."""
    visible = agents_visible_to(request.user).values("pk")
    slos = SLO.objects.filter(agent__in=visible).select_related("agent").order_by("agent__name", "channel")
    monitors = (
        Monitor.objects.filter(Q(agent__in=visible) | Q(agent__isnull=True))
        .select_related("agent", "team")
        .prefetch_related("conditions")
    )
    context = {
        "slos": slos,
        "monitors": monitors,
        "manageable_slos": {s.pk for s in slos if services.may_manage_slo(request.user, s)},
        "manageable_monitors": {m.pk for m in monitors if services.may_manage_monitor(request.user, m)},
        "can_define": request.user.has_perm("monitors.add_monitor") or _definable_agents(request.user).exists(),
        "can_channels": request.user.has_perm("registry.add_alertchannel"),
    }
    return render(request, "monitors/index.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def monitor_new(request):
    agents = _definable_agents(request.user)
    if not request.user.has_perm("monitors.add_monitor") and not agents.exists():
        raise PermissionDenied("Only agent owners, operators and the governance board define monitors.")
    form = MonitorForm(request.POST or None, agents=agents)
    if request.method == "POST" and form.is_valid():
        try:
            services.monitor_create(actor=request.user, **form.definition())
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "Monitor saved: it is evaluated every minute.")
            return redirect("monitors:index")
    return render(
        request, "monitors/form.html", {"form": form, "title": "New monitor"}, status=400 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def slo_new(request):
    agents = _definable_agents(request.user)
    if not agents.exists():
        raise PermissionDenied("Only agent owners, operators and the governance board define SLOs.")
    form = SLOForm(request.POST or None, agents=agents)
    if request.method == "POST" and form.is_valid():
        fields = {k: v for k, v in form.cleaned_data.items() if k != "agent"}
        try:
            services.slo_create(actor=request.user, agent=form.cleaned_data["agent"], **fields)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "SLO saved: its burn rates are evaluated every minute.")
            return redirect("monitors:index")
    return render(request, "monitors/form.html", {"form": form, "title": "New SLO"}, status=400 if form.errors else 200)


def _monitor_initial(monitor: Monitor) -> dict:
    initial = {"name": monitor.name, "scope": monitor.scope, "agent": monitor.agent_id, "team": monitor.team_id}
    initial["no_data"] = monitor.no_data
    for i, c in enumerate(monitor.conditions.all(), start=1):
        initial |= {f"metric_{i}": c.metric, f"comparator_{i}": c.comparator, f"window_{i}": c.window_minutes}
        initial |= {f"warning_{i}": c.warning_threshold, f"alert_{i}": c.alert_threshold}
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def monitor_edit(request, pk: int):
    """Edit a monitor: who may define it may change it (``services.may_manage_monitor``)."""
    monitor = get_object_or_404(Monitor.objects.select_related("agent", "team"), pk=pk)
    if not services.may_manage_monitor(request.user, monitor):
        raise PermissionDenied("Only the agent's owner, operators and the governance board change this monitor.")
    form = MonitorForm(request.POST or None, agents=_definable_agents(request.user), initial=_monitor_initial(monitor))
    if request.method == "POST" and form.is_valid():
        try:
            services.monitor_update(actor=request.user, monitor=monitor, **form.definition())
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "Monitor changed: the next evaluation uses the new definition.")
            return redirect("monitors:index")
    context = {"form": form, "title": f"Edit monitor “{monitor.name}”", "delete_url": "monitors:monitor_delete"}
    context["object"] = monitor
    return render(request, "monitors/form.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["POST"])
def monitor_delete(request, pk: int):
    """Delete a monitor; its open alert is resolved (``services.monitor_delete``)."""
    monitor = get_object_or_404(Monitor.objects.select_related("agent"), pk=pk)
    if not services.may_manage_monitor(request.user, monitor):
        raise PermissionDenied("Only the agent's owner, operators and the governance board delete this monitor.")
    services.monitor_delete(actor=request.user, monitor=monitor)
    messages.success(request, f"Monitor “{monitor.name}” deleted; its open alerts are resolved.")
    return redirect("monitors:index")


def _active_set(request, *, allowed: bool, what: str, apply):
    """Pause or resume ``what`` (a monitor or an SLO) from the form's ``active`` field ("1" resume,
    "0" pause; anything else is bad input and changes nothing) by calling ``apply(active)``."""
    if not allowed:
        raise PermissionDenied(f"Only the agent's owner, operators and the governance board pause {what}.")
    active = {"1": True, "0": False}.get(request.POST.get("active", ""))
    if active is None:
        return HttpResponseBadRequest("active: 1 to resume, 0 to pause.")
    try:
        apply(active)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("monitors:index")
    done = "resumed: the next evaluation checks it again" if active else "paused: its open alerts are resolved"
    messages.success(request, f"{what[0].upper()}{what[1:]} {done}.")
    return redirect("monitors:index")


@login_required
@require_http_methods(["POST"])
def monitor_active(request, pk: int):
    """Pause or resume a monitor (``services.monitor_active_set``)."""
    monitor = get_object_or_404(Monitor.objects.select_related("agent"), pk=pk)
    return _active_set(
        request,
        allowed=services.may_manage_monitor(request.user, monitor),
        what=f"monitor “{monitor.name}”",
        apply=lambda active: services.monitor_active_set(actor=request.user, monitor=monitor, active=active),
    )


@login_required
@require_http_methods(["POST"])
def slo_active(request, pk: int):
    """Pause or resume an SLO (``services.slo_active_set``)."""
    slo = get_object_or_404(SLO.objects.select_related("agent"), pk=pk)
    return _active_set(
        request,
        allowed=services.may_manage_slo(request.user, slo),
        what=f"the SLO of {slo.agent.name}",
        apply=lambda active: services.slo_active_set(actor=request.user, slo=slo, active=active),
    )


@login_required
@require_http_methods(["GET", "POST"])
def slo_edit(request, pk: int):
    """Edit an SLO: who may define it may change it (``services.may_manage_slo``)."""
    slo = get_object_or_404(SLO.objects.select_related("agent"), pk=pk)
    if not services.may_manage_slo(request.user, slo):
        raise PermissionDenied("Only the agent's owner, operators and the governance board change this SLO.")
    form = SLOForm(request.POST or None, agents=_definable_agents(request.user), instance=SLO.objects.get(pk=slo.pk))
    if request.method == "POST" and form.is_valid():
        fields = {k: v for k, v in form.cleaned_data.items() if k != "agent"}
        try:
            services.slo_update(actor=request.user, slo=slo, agent=form.cleaned_data["agent"], **fields)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "SLO changed: the next evaluation uses the new objectives.")
            return redirect("monitors:index")
    context = {"form": form, "title": f"Edit {slo}", "delete_url": "monitors:slo_delete", "object": slo}
    return render(request, "monitors/form.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["POST"])
def slo_delete(request, pk: int):
    """Delete an SLO; its open burn-rate alerts are resolved (``services.slo_delete``)."""
    slo = get_object_or_404(SLO.objects.select_related("agent"), pk=pk)
    if not services.may_manage_slo(request.user, slo):
        raise PermissionDenied("Only the agent's owner, operators and the governance board delete this SLO.")
    services.slo_delete(actor=request.user, slo=slo)
    messages.success(request, "SLO deleted; its open alerts are resolved.")
    return redirect("monitors:index")


@login_required
@require_http_methods(["GET", "POST"])
def channels(request):
    """Alert channels: the board (``registry.add_alertchannel``) adds them; secrets are never shown."""
    if not request.user.has_perm("registry.add_alertchannel"):
        raise PermissionDenied("Only the governance board manages alert channels.")
    form = AlertChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            alert_channel_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "Channel saved.")
            return redirect("monitors:channels")
    context = {"form": form, "channels": AlertChannel.objects.select_related("team")}
    return render(request, "monitors/channels.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    """My alerts: which kinds reach me by e-mail."""
    current = dict(AlertPreference.objects.filter(user=request.user).values_list("kind", "email"))
    form = PreferencesForm(request.POST or None, current=current)
    if request.method == "POST" and form.is_valid():
        alert_preferences_set(user=request.user, email_by_kind={k: form.cleaned_data[k] for k in ALERT_KINDS})
        messages.success(request, "Your alert preferences are saved.")
        return redirect("monitors:preferences")
    return render(request, "monitors/preferences.html", {"form": form})
