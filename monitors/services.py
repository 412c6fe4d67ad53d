"""Evaluating SLOs and monitors, and raising or clearing their alerts through
``registry.channels.notify``. Run by the beat task ``monitors.evaluate`` every minute.

Idempotent: evaluating twice with the same data gives the same levels and, through the channels'
de-duplication (one open alert per ``dedup_key``), sends nothing the second time. The alert's key
names the level (``slo:<id>:<sli>:alert``), so an SLO going from warning to alert pages, and the
warning's own alert is resolved."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from registry.audit import acting_as
from registry.channels import Alert, alerts_seen, notify, open_dedup_keys
from registry.permissions import user_can_edit_agent

from . import burn, selectors
from .choices import LEVEL_RANK, Comparator, Level, NoData, Scope
from .models import SLO, Monitor, MonitorCondition

log = logging.getLogger(__name__)
SLIS = ("availability", "latency")
SEVERITY = {Level.WARNING: "warning", Level.ALERT: "critical"}


def _agent_url(agent) -> str:
    return reverse("registry:agent_detail", kwargs={"slug": agent.slug})


def _raise_or_clear(
    *, key: str, level: str, make_alert, open_keys: set[str] | None = None, seen: set[str] | None = None
) -> None:
    """Open the alert of ``level`` (if warning or alert) and resolve the other levels' alerts.
    With ``open_keys`` (the alerts open at the start of the pass) only changes reach ``notify``: a
    healthy condition with nothing open costs no query, a firing one already open none either — its
    key is added to ``seen`` instead, and the pass refreshes all of them at once (``alerts_seen``)."""
    for other in (Level.WARNING, Level.ALERT):
        if other != level and (open_keys is None or f"{key}:{other}" in open_keys):
            notify(Alert(kind="", dedup_key=f"{key}:{other}", title="", resolved=True))
    if level not in SEVERITY:
        return
    if open_keys is None or f"{key}:{level}" not in open_keys:
        notify(make_alert(f"{key}:{level}", SEVERITY[level]))
    elif seen is not None:
        seen.add(f"{key}:{level}")


def slo_evaluate(
    *, slo: SLO, now: datetime | None = None, open_keys: set[str] | None = None, seen: set[str] | None = None
) -> str | None:
    """Rule: each SLI's level is the most serious multi-window burn-rate rule firing
    (``monitors/burn.py``: 1 h and 5 min at 14.4×, 6 h and 30 min at 6× alert; 3 days and 6 h at
    1× warns); the SLO's level is the worse SLI's. An alert is raised per SLI at its level and
    resolved when the SLI is back under every rule. Also records burn rates and the budget left
    over the SLO's period for the card."""
    end = burn.window_end(now or timezone.now())
    period_start = end - timedelta(days=slo.period_days)
    buckets = selectors.slo_buckets(slo, start=end - burn.LONGEST, end=end)
    period = [selectors.slo_period_total(slo, start=period_start, end=end)]
    status, worst = {}, Level.OK
    targets = {"availability": slo.availability_target, "latency": slo.latency_target}
    for sli in SLIS:
        level, rates = burn.evaluate_sli(buckets, end=end, sli=sli, target=targets[sli])
        left = burn.budget_left_pct(period, start=period_start, end=end, sli=sli, target=targets[sli])
        status[sli] = {"level": level, "burn": rates, "budget_left_pct": left}
        worst = max(worst, level, key=LEVEL_RANK.get)
    with transaction.atomic():
        # Race: the SLO deleted while this pass evaluated it (see ``monitor_evaluate``).
        # Paused meanwhile: pausing resolved its alerts under the same lock; none is raised after.
        if not SLO.objects.select_for_update().filter(pk=slo.pk, is_active=True).exists():
            return None
        for sli in SLIS:
            make_alert = _slo_alert(slo, sli, status[sli])
            key = f"slo:{slo.pk}:{sli}"
            _raise_or_clear(key=key, level=status[sli]["level"], make_alert=make_alert, open_keys=open_keys, seen=seen)
        status["runs"] = period[0].runs
        SLO.objects.filter(pk=slo.pk).update(level=worst, status=status, evaluated_at=timezone.now())
    return worst


def _slo_alert(slo: SLO, sli: str, sli_status: dict):
    def make(key: str, severity: str) -> Alert:
        firing = {k: v for k, v in sli_status["burn"].items() if v["long"] >= v["factor"] and v["short"] >= v["factor"]}
        rates = ", ".join(
            f"{k}: {v['long']}× over the long window, {v['short']}× over the short" for k, v in firing.items()
        )
        what = (
            f"{slo.availability_target} % available"
            if sli == "availability"
            else (f"{slo.latency_target} % under {slo.latency_threshold_ms} ms")
        )
        channel = f" ({slo.channel})" if slo.channel else ""
        return Alert(
            kind="slo_burn",
            dedup_key=key,
            title=f"{slo.agent.name}{channel} is burning its {sli} error budget",
            body=f"Objective: {what}. Burn rate {rates}. Budget left: {sli_status['budget_left_pct']} %.",
            severity=severity,
            agent=slo.agent,
            url=_agent_url(slo.agent),
            recipients=(slo.agent.owner.email,) if slo.agent.owner.email else (),
            details={"slo": slo.pk, "sli": sli, "burn": sli_status["burn"]},
        )

    return make


def condition_level(condition: MonitorCondition, value: Decimal | None) -> str:
    """OK, warning or alert for one condition's value; NO_DATA when there is none."""
    if value is None:
        return Level.NO_DATA

    def crosses(threshold: Decimal | None) -> bool:
        if threshold is None:
            return False
        return value > threshold if condition.comparator == Comparator.ABOVE else value < threshold

    if crosses(condition.alert_threshold):
        return Level.ALERT
    return Level.WARNING if crosses(condition.warning_threshold) else Level.OK


def monitor_level(levels: list[str], *, no_data: str, previous: str) -> str:
    """Rule: composite AND — the monitor is at the lowest level every condition reaches. A condition
    without data counts as the monitor's no-data choice (OK, warning, alert, or its last level)."""
    if not levels:
        return Level.OK
    substitute = previous if no_data == NoData.KEEP else no_data
    if substitute == Level.NO_DATA:
        substitute = Level.OK
    resolved = [substitute if lv == Level.NO_DATA else lv for lv in levels]
    return min(resolved, key=LEVEL_RANK.get)


def monitor_evaluate(
    *, monitor: Monitor, now: datetime | None = None, open_keys: set[str] | None = None, seen: set[str] | None = None
) -> str | None:
    """Evaluate every condition over its window (ending at the last complete five-minute bucket),
    combine them (:func:`monitor_level`), store the values and raise or clear the alert."""
    end = burn.window_end(now or timezone.now())
    values, levels = [], []
    for condition in monitor.conditions.all():
        value = selectors.condition_value(
            monitor, condition.metric, start=end - timedelta(minutes=condition.window_minutes), end=end
        )
        level = condition_level(condition, value)
        levels.append(level)
        values.append({"condition": condition.pk, "value": None if value is None else str(value), "level": level})
    level = monitor_level(levels, no_data=monitor.no_data, previous=monitor.level)
    with transaction.atomic():
        # Race: the monitor deleted while this pass evaluated it. Its deletion resolves its alerts
        # with the row locked; taking the same lock first means no alert is opened after that.
        # Pausing takes the same lock, so a paused monitor raises nothing either.
        if not Monitor.objects.select_for_update().filter(pk=monitor.pk, is_active=True).exists():
            return None
        make_alert = _monitor_alert(monitor, values)
        _raise_or_clear(key=f"monitor:{monitor.pk}", level=level, make_alert=make_alert, open_keys=open_keys, seen=seen)
        Monitor.objects.filter(pk=monitor.pk).update(level=level, last_values=values, evaluated_at=timezone.now())
    return level


def _monitor_alert(monitor: Monitor, values: list[dict]):
    def make(key: str, severity: str) -> Alert:
        conditions = {c.pk: c for c in monitor.conditions.all()}
        lines = [
            f"{conditions[v['condition']]}: now {v['value'] if v['value'] is not None else 'no data'}" for v in values
        ]
        agent = monitor.agent
        recipients = (agent.owner.email,) if agent is not None and agent.owner.email else ()
        return Alert(
            kind="monitor",
            dedup_key=key,
            title=f"Monitor “{monitor.name}” is at {key.rsplit(':', 1)[1]}",
            body="\n".join(lines),
            severity=severity,
            agent=agent,
            team=monitor.team,
            url=_agent_url(agent) if agent is not None else reverse("home"),
            recipients=recipients,
            details={"monitor": monitor.pk, "values": values},
        )

    return make


def evaluate_all(*, now: datetime | None = None) -> dict[str, int]:
    """The beat's pass: every active SLO and monitor, each on its own (one failing does not stop the
    others' alerts). Returns how many are at warning or alert.

    Rule: an alert already open whose condition still fires is not notified again; its record's
    ``last_seen_at`` is refreshed, for all of them in one UPDATE at the end of the pass."""
    now = now or timezone.now()
    counts = {"slos": 0, "monitors": 0}
    # The alerts open now, read once: only a change of level costs a notify (and its lock).
    open_slo, open_monitor = open_dedup_keys("slo:"), open_dedup_keys("monitor:")
    seen: set[str] = set()
    for slo in SLO.objects.filter(is_active=True).select_related("agent", "agent__owner"):
        level = _isolated(slo_evaluate, slo=slo, now=now, open_keys=open_slo, seen=seen)
        counts["slos"] += level not in (Level.OK, None)
    monitors = Monitor.objects.filter(is_active=True).select_related("agent", "agent__owner", "team")
    for monitor in monitors.prefetch_related("conditions"):
        level = _isolated(monitor_evaluate, monitor=monitor, now=now, open_keys=open_monitor, seen=seen)
        counts["monitors"] += level not in (Level.OK, None)
    alerts_seen(seen)
    return counts


def _isolated(evaluate, **kwargs) -> str | None:
    # One SLO or monitor that cannot be evaluated (a bug, a row deleted meanwhile) is logged and
    # skipped: it must not silence every other alert until someone notices.
    try:
        return evaluate(**kwargs)
    except Exception:
        log.exception("monitors: evaluating %s failed", kwargs)
        return None


# --- defining SLOs and monitors -------------------------------------------------------------------


def may_define_for(user, agent) -> bool:
    """Rule: the governance board and operators (``monitors.add_monitor``) define monitors and SLOs
    for any agent, a team or the portfolio; an agent's owner (who may edit it) for that agent."""
    if user.has_perm("monitors.add_monitor"):
        return True
    return agent is not None and user_can_edit_agent(user, agent)


def monitor_create(
    *, actor, name: str, scope: str, agent=None, team=None, no_data: str, conditions: list[dict]
) -> Monitor:
    """Create a monitor with its conditions (one to four, all must hold). Refused with a
    ValidationError (nothing saved) when the actor may not define it (``may_define_for``: a team or
    portfolio monitor needs ``monitors.add_monitor``) or a condition is incomplete."""
    _check_monitor_definition(actor, scope=scope, agent=agent, conditions=conditions)
    with transaction.atomic(), acting_as(actor):
        monitor = Monitor(
            name=name,
            scope=scope,
            agent=agent if scope == Scope.AGENT else None,
            team=team if scope == Scope.TEAM else None,
            no_data=no_data,
            created_by=actor,
        )
        monitor.full_clean()
        monitor.save()
        _save_conditions(monitor, conditions)
    return monitor


def _check_monitor_definition(actor, *, scope: str, agent, conditions: list[dict]) -> None:
    if scope != Scope.AGENT and not actor.has_perm("monitors.add_monitor"):
        raise ValidationError({"scope": "Only the governance board and operators define team or portfolio monitors."})
    if scope == Scope.AGENT and not may_define_for(actor, agent):
        raise ValidationError({"agent": "You may define monitors only for agents you own."})
    if not 1 <= len(conditions) <= 4:
        raise ValidationError("A monitor has one to four conditions.")


def _save_conditions(monitor: Monitor, conditions: list[dict]) -> None:
    for fields in conditions:
        condition = MonitorCondition(monitor=monitor, **fields)
        condition.full_clean()
        condition.save()


def may_manage_monitor(user, monitor: Monitor) -> bool:
    """Rule: whoever may define a monitor like it may edit or delete it — the board and operators
    any monitor, an agent's owner the monitors of that agent."""
    if monitor.scope != Scope.AGENT:
        return user.has_perm("monitors.add_monitor")
    return may_define_for(user, monitor.agent)


def may_manage_slo(user, slo: SLO) -> bool:
    """Rule: as for monitors — the board and operators any SLO, an owner the SLOs of their agent."""
    return may_define_for(user, slo.agent)


def _resolve_open(prefix: str) -> None:
    # Every alert this definition raised that is still open (any level, any SLI) is resolved: its
    # channels are told it is over, and nothing would ever resolve it once the definition is gone.
    for key in open_dedup_keys(prefix):
        notify(Alert(kind="", dedup_key=key, title="", resolved=True))


def monitor_update(
    *, actor, monitor: Monitor, name: str, scope: str, agent=None, team=None, no_data: str, conditions: list[dict]
) -> Monitor:
    """Change a monitor's name, target, no-data choice and conditions (replaced as a whole). Rule:
    the actor must be allowed to manage the monitor as it is and to define it as it will be
    (``may_manage_monitor``, ``may_define_for``); bad input raises ValidationError and changes
    nothing. Moving a firing monitor to another target resolves its open alert (it was about the
    old one); the next pass raises it again if the new target fires."""
    if not may_manage_monitor(actor, monitor):
        raise ValidationError("You may not change this monitor.")
    _check_monitor_definition(actor, scope=scope, agent=agent, conditions=conditions)
    with transaction.atomic(), acting_as(actor):
        # Race: two edits, or an edit and a deletion, of the same monitor; the row is locked.
        locked = Monitor.objects.select_for_update().filter(pk=monitor.pk).first()
        if locked is None:
            raise ValidationError("This monitor was deleted meanwhile.")
        target_before = (locked.scope, locked.agent_id, locked.team_id)
        locked.name, locked.scope, locked.no_data = name, scope, no_data
        locked.agent = agent if scope == Scope.AGENT else None
        locked.team = team if scope == Scope.TEAM else None
        locked.full_clean()
        locked.save()
        locked.conditions.all().delete()
        _save_conditions(locked, conditions)
        if (locked.scope, locked.agent_id, locked.team_id) != target_before:
            _resolve_open(f"monitor:{locked.pk}:")
    return locked


def monitor_delete(*, actor, monitor: Monitor) -> None:
    """Delete a monitor and its conditions. Rule: as editing (``may_manage_monitor``); any alert of
    it still open is resolved through ``notify`` first, so its channels hear that it is over."""
    if not may_manage_monitor(actor, monitor):
        raise ValidationError("You may not delete this monitor.")
    with transaction.atomic(), acting_as(actor):
        # Race: the beat pass evaluating this monitor now; it takes the same row lock before it
        # raises an alert, so none is opened after this resolution.
        locked = Monitor.objects.select_for_update().filter(pk=monitor.pk).first()
        if locked is None:
            return
        _resolve_open(f"monitor:{locked.pk}:")
        locked.delete()


def _active_set(model, *, pk: int, active: bool, alert_prefix: str):
    """Pause (``active`` False) or resume one SLO or monitor; see the public functions."""
    # Race: the beat pass evaluating this row now; it takes the same row lock and re-reads
    # ``is_active`` before it raises an alert, so none is opened after a pause resolved them.
    locked = model.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        raise ValidationError("It was deleted meanwhile.")
    if locked.is_active == active:
        return locked
    locked.is_active = active
    update = ["is_active"]
    if not active:
        _resolve_open(alert_prefix)
        locked.level = Level.OK  # nothing fires while paused; the first pass after resuming says what does
        update.append("level")
    locked.save(update_fields=update)
    return locked


def monitor_active_set(*, actor, monitor: Monitor, active: bool) -> Monitor:
    """Pause or resume a monitor without losing its definition. Rule: as editing
    (``may_manage_monitor``); pausing resolves its open alert through ``notify`` (its channels hear
    it is over) and the beat pass skips it until it is resumed. Idempotent; audited with the actor."""
    if not may_manage_monitor(actor, monitor):
        raise ValidationError("You may not pause or resume this monitor.")
    with transaction.atomic(), acting_as(actor):
        return _active_set(Monitor, pk=monitor.pk, active=active, alert_prefix=f"monitor:{monitor.pk}:")


def slo_active_set(*, actor, slo: SLO, active: bool) -> SLO:
    """Pause or resume an SLO (e.g. during planned maintenance) without losing its objectives. Rule:
    as editing (``may_manage_slo``); pausing resolves its open burn-rate alerts and the beat pass
    skips it until it is resumed. Idempotent; audited with the actor."""
    if not may_manage_slo(actor, slo):
        raise ValidationError("You may not pause or resume this SLO.")
    with transaction.atomic(), acting_as(actor):
        return _active_set(SLO, pk=slo.pk, active=active, alert_prefix=f"slo:{slo.pk}:")


def slo_create(*, actor, agent, **fields) -> SLO:
    """Create an agent's SLO (one per agent and channel). Refused (nothing saved) when the actor may
    not define it or the targets are out of range."""
    if not may_define_for(actor, agent):
        raise ValidationError({"agent": "You may define SLOs only for agents you own."})
    slo = SLO(agent=agent, **fields)
    slo.full_clean()
    with transaction.atomic(), acting_as(actor):
        slo.save()
    return slo


SLO_FIELDS = ("channel", "availability_target", "latency_threshold_ms", "latency_target", "period_days")


def slo_update(*, actor, slo: SLO, agent, **fields) -> SLO:
    """Change an SLO's agent, channel, targets or period. Rule: the actor must be allowed to manage
    it as it is and to define it as it will be; out-of-range targets or a second SLO for the same
    agent and channel raise ValidationError and change nothing. Changing the agent or channel
    resolves its open alerts (they were about other runs); the next pass raises them anew."""
    if not may_manage_slo(actor, slo):
        raise ValidationError("You may not change this SLO.")
    if not may_define_for(actor, agent):
        raise ValidationError({"agent": "You may define SLOs only for agents you own."})
    unknown = set(fields) - set(SLO_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown SLO fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic(), acting_as(actor):
        # Race: two edits, or an edit and a deletion, of the same SLO; the row is locked.
        locked = SLO.objects.select_for_update().filter(pk=slo.pk).first()
        if locked is None:
            raise ValidationError("This SLO was deleted meanwhile.")
        target_before = (locked.agent_id, locked.channel)
        locked.agent = agent
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.full_clean()
        locked.save()
        if (locked.agent_id, locked.channel) != target_before:
            _resolve_open(f"slo:{locked.pk}:")
    return locked


def slo_delete(*, actor, slo: SLO) -> None:
    """Delete an SLO. Rule: as editing (``may_manage_slo``); its open burn-rate alerts are resolved
    through ``notify`` first."""
    if not may_manage_slo(actor, slo):
        raise ValidationError("You may not delete this SLO.")
    with transaction.atomic(), acting_as(actor):
        # Race: the beat pass evaluating this SLO now (see ``monitor_delete``).
        locked = SLO.objects.select_for_update().filter(pk=slo.pk).first()
        if locked is None:
            return
        _resolve_open(f"slo:{locked.pk}:")
        locked.delete()
