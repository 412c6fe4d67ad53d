"""Drift checks: a recent window against a baseline, metric by metric, and what a breach does.

Windows are read from telemetry's five-minute rollups (``telemetry.selectors.run_windows``), not
by scanning raw runs; the rule for each metric is in ``drift_evaluate``. The beat's cycle is
set-based (``drift_check_fleet``: a constant number of queries for the whole fleet); one agent's
check (``drift_check_agent``) is the same rule read for one agent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from incidents.services import incident_open_or_link
from registry.channels import Alert, notify
from registry.extensions import automatic_change_announce
from registry.models import Agent
from registry.permissions import user_can_edit_agent
from registry.services import agent_controls_update
from telemetry import selectors as telemetry_selectors
from telemetry import services as telemetry_services

from ..choices import AlertStatus, DriftAction, DriftMetric
from ..drift_stats import (
    chi_square_homogeneity,
    population_stability_index,
    relative_change_pct,
    two_proportion_z,
    wilson_interval,
)
from ..models import (
    DriftAlert,
    DriftPolicy,
)
from ..selectors import OUTCOMES, WindowStats, window_stats


@dataclass(frozen=True)
class Breach:
    metric: str
    summary: str
    statistic: str
    value: float | None
    p_value: float | None
    threshold: str
    evidence: dict


@dataclass(frozen=True)
class DriftVerdict:
    breaches: list[Breach]
    # Metrics with enough data that were found healthy: their open alerts may clear.
    healthy: list[str]


def driftpolicy_for(agent: Agent):
    """The agent's drift policy, created with the playbook defaults on first use."""

    policy, _ = DriftPolicy.objects.get_or_create(agent=agent)
    return policy


@transaction.atomic
def driftpolicy_update(*, agent: Agent, user, **fields) -> DriftPolicy:
    """Change an agent's drift policy. Only whoever may change the agent (its owners, the
    governance board) may; the model's validators and constraints decide what is valid, and an
    invalid change saves nothing. Locked like a drift check, so a check never sees half a policy."""
    if not user_can_edit_agent(user, agent):
        raise PermissionDenied(f"You may not change the drift policy of {agent.name}.")
    DriftPolicy.objects.get_or_create(agent=agent)
    policy = DriftPolicy.objects.select_for_update().get(agent=agent)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    return policy


def _rate(x: int, n: int) -> float:
    return x / n if n else 0.0


def _points(value: float) -> float:
    return round(value * 100, 2)


class _Verdict:
    """Breaches and healthy metrics as the checks below find them."""

    def __init__(self, policy):
        self.policy = policy
        self.alpha = float(policy.significance)
        self.n_min = policy.min_samples
        self.breaches: list[Breach] = []
        self.healthy: list[str] = []

    def judge(self, metric: str, breach: Breach | None) -> None:
        if breach is None:
            self.healthy.append(metric)
        else:
            self.breaches.append(breach)


def _rate_breach(verdict: _Verdict, metric: str, label: str, counts, limit_points, worse: str) -> Breach | None:
    """A rate breaches only when the change is both large (the policy's points) and unlikely to
    be noise (one-sided two-proportion z-test at the policy's significance)."""
    (x_b, base), (x_r, recent) = counts
    nb, nr = base.runs, recent.runs
    pb, pr = _rate(x_b, nb), _rate(x_r, nr)
    z, p_rise = two_proportion_z(x_b, nb, x_r, nr)
    change = (pr - pb) if worse == "rise" else (pb - pr)
    p = p_rise if worse == "rise" else 1 - p_rise
    policy = verdict.policy
    if not (_points(change) > float(limit_points) and p < verdict.alpha):
        return None
    return Breach(
        metric=metric,
        summary=f"{label} {'rose' if worse == 'rise' else 'dropped'} {_points(change):.1f} points "
        f"({_points(pb):.1f} % → {_points(pr):.1f} %)",
        statistic="two-proportion z",
        value=round(z, 4),
        p_value=p,
        threshold=f"{worse} > {limit_points} points and p < {policy.significance}",
        evidence={
            "windows": {"baseline": base.as_evidence(), "recent": recent.as_evidence()},
            "counts": {"baseline": [x_b, nb], "recent": [x_r, nr]},
            "rates_pct": {"baseline": _points(pb), "recent": _points(pr)},
            "change_points": _points(change),
            "statistic": {"name": "z", "value": round(z, 4), "p_value": p},
            "threshold": {"points": str(limit_points), "significance": str(policy.significance)},
            "min_samples": verdict.n_min,
        },
    )


def _check_rate(verdict: _Verdict, metric: str, label: str, counts, limit_points, worse: str) -> None:
    (_x_b, base), (_x_r, recent) = counts
    if base.runs < verdict.n_min or recent.runs < verdict.n_min:
        return
    verdict.judge(metric, _rate_breach(verdict, metric, label, counts, limit_points, worse))


def _success_breach(verdict: _Verdict, recent, success_threshold_pct: Decimal) -> Breach | None:
    """Confidently below the bar: even the upper confidence bound is under the threshold."""
    alpha = verdict.alpha
    _low, high = wilson_interval(recent.resolved, recent.runs, confidence=1 - 2 * alpha)
    if high >= float(success_threshold_pct) / 100:
        return None
    rate = _rate(recent.resolved, recent.runs)
    return Breach(
        metric=DriftMetric.TASK_SUCCESS,
        summary=f"Task success {_points(rate):.1f} % is under the threshold {success_threshold_pct} %",
        statistic="Wilson upper bound",
        value=round(high, 6),
        p_value=None,
        threshold=f"upper {100 * (1 - alpha):g} % bound < {success_threshold_pct} %",
        evidence={
            "windows": {"recent": recent.as_evidence()},
            "counts": {"recent": [recent.resolved, recent.runs]},
            "rates_pct": {"recent": _points(rate)},
            "statistic": {"name": "wilson_upper", "value": round(high, 6)},
            "threshold": {"success_pct": str(success_threshold_pct), "significance": str(alpha)},
        },
    )


def _mix_breach(verdict: _Verdict, baseline, recent) -> Breach | None:
    """The outcome mix needs a significant chi-square and a PSI past the threshold."""
    policy = verdict.policy
    counts_b = [baseline.outcomes.get(o, 0) for o in OUTCOMES]
    counts_r = [recent.outcomes.get(o, 0) for o in OUTCOMES]
    chi2, dof, p = chi_square_homogeneity(counts_b, counts_r)
    psi = population_stability_index(counts_b, counts_r)
    if not (p < verdict.alpha and psi > float(policy.outcome_mix_psi)):
        return None
    return Breach(
        metric=DriftMetric.OUTCOME_MIX,
        summary=f"Outcome mix shifted (PSI {psi:.2f}, chi-square p = {p:.2g})",
        statistic="chi-square + PSI",
        value=round(chi2, 4),
        p_value=p,
        threshold=f"p < {policy.significance} and PSI > {policy.outcome_mix_psi}",
        evidence={
            "windows": {"baseline": baseline.as_evidence(), "recent": recent.as_evidence()},
            "counts": {"outcomes": list(OUTCOMES), "baseline": counts_b, "recent": counts_r},
            "statistic": {"name": "chi2", "value": round(chi2, 4), "dof": dof, "p_value": p, "psi": psi},
            "threshold": {"psi": str(policy.outcome_mix_psi), "significance": str(policy.significance)},
        },
    )


def _check_rise(verdict: _Verdict, metric: str, label: str, values, limit, unit: str, windows: dict) -> None:
    """Cost and latency: a relative rise past the policy's percentage."""
    b_value, r_value = values
    change = relative_change_pct(
        float(b_value) if b_value is not None else None, float(r_value) if r_value is not None else None
    )
    if change is None:
        return
    if change <= float(limit):
        verdict.judge(metric, None)
        return
    verdict.judge(
        metric,
        Breach(
            metric=metric,
            summary=f"{label} rose {change:.0f} % ({float(b_value):.4g} → {float(r_value):.4g} {unit})",
            statistic="relative change",
            value=round(change, 2),
            p_value=None,
            threshold=f"rise > {limit} %",
            evidence={
                "windows": windows,
                "values": {"baseline": float(b_value), "recent": float(r_value), "unit": unit},
                "statistic": {"name": "relative_change_pct", "value": round(change, 2)},
                "threshold": {"rise_pct": str(limit)},
            },
        ),
    )


def drift_evaluate(
    *, policy, success_threshold_pct: Decimal, baseline, recent, error_baseline, error_recent
) -> DriftVerdict:
    """Compare a recent window with a baseline, metric by metric.

    A rate breaches only when the change is both large (the policy's points) and unlikely
    to be noise (one-sided two-proportion z-test at the policy's significance, each window
    holding at least ``min_samples`` runs). The outcome mix needs a significant chi-square
    and a PSI past the threshold; cost and latency a relative rise past the threshold."""

    verdict = _Verdict(policy)
    pair = ((baseline.resolved, baseline), (recent.resolved, recent))
    _check_rate(verdict, DriftMetric.CONTAINMENT, "Containment", pair, policy.containment_drop_points, "drop")
    pair = ((baseline.escalated, baseline), (recent.escalated, recent))
    _check_rate(verdict, DriftMetric.ESCALATION, "Escalation rate", pair, policy.escalation_rise_points, "rise")
    pair = ((error_baseline.errors, error_baseline), (error_recent.errors, error_recent))
    _check_rate(verdict, DriftMetric.ERROR_RATE, "Error rate", pair, policy.error_rise_points, "rise")
    if recent.runs >= verdict.n_min:
        verdict.judge(DriftMetric.TASK_SUCCESS, _success_breach(verdict, recent, success_threshold_pct))
    if baseline.runs >= verdict.n_min and recent.runs >= verdict.n_min:
        verdict.judge(DriftMetric.OUTCOME_MIX, _mix_breach(verdict, baseline, recent))
        windows = {"baseline": baseline.as_evidence(), "recent": recent.as_evidence()}
        costs = (baseline.cost_per_run_usd, recent.cost_per_run_usd)
        _check_rise(verdict, DriftMetric.COST_PER_RUN, "Cost per run", costs, policy.cost_rise_pct, "USD", windows)
        latencies = (baseline.latency_p95_ms, recent.latency_p95_ms)
        _check_rise(verdict, DriftMetric.LATENCY_P95, "Latency p95", latencies, policy.latency_rise_pct, "ms", windows)
    return DriftVerdict(breaches=verdict.breaches, healthy=verdict.healthy)


def _window_ranges(policy, now) -> dict:
    """The four windows of a drift check (baseline and recent for the outcome rates, the same
    for the error rate), as [start, end) ranges ending ``now``."""
    recent_start = now - timedelta(minutes=policy.containment_window_minutes)
    error_start = now - timedelta(minutes=policy.error_window_minutes)
    span = timedelta(hours=policy.baseline_hours)
    return {
        "baseline": (recent_start - span, recent_start),
        "recent": (recent_start, now),
        "error_baseline": (error_start - span, error_start),
        "error_recent": (error_start, now),
    }


def _stats(counts: dict) -> dict[str, WindowStats]:
    return {name: window_stats(c, with_latency=not name.startswith("error")) for name, c in counts.items()}


def drift_windows(*, agent: Agent, policy, now) -> dict[str, WindowStats]:
    """The four windows of one agent's drift check, read from telemetry's five-minute rollups
    (made complete for this agent first) and, for the last minutes and the windows' edges, its
    raw runs. Counts, errors and cost equal a scan of the raw runs; the latency p95 is the
    rollup histogram's (within one bucket, ~19 %)."""
    counts = telemetry_selectors.run_windows(
        agent_id=agent.pk,
        complete_before=telemetry_services.rollup_catch_up_agent(agent_id=agent.pk),
        latency={"baseline", "recent"},
        now=now,
        windows=_window_ranges(policy, now),
    )
    return _stats(counts)


def drift_check_agent(*, agent_id: int, now=None) -> list:
    """Run the drift check of one agent and act on breaches.

    A breach records (or adds to) the metric's open alert, opens a SEV2 incident or links the
    open one, and applies the policy's automatic action (canary share to 0, or kill switch).
    Checks of one agent are serialized on the policy row, so two workers never double-page."""

    now = now or timezone.now()
    agent = Agent.objects.filter(pk=agent_id).select_related("drift_policy").first()
    if agent is None:
        return []
    policy = getattr(agent, "drift_policy", None) or driftpolicy_for(agent)
    if not policy.enabled:
        return []
    verdict = drift_evaluate(
        policy=policy,
        success_threshold_pct=agent.success_threshold_pct,
        **drift_windows(agent=agent, policy=policy, now=now),
    )
    return _drift_record(agent=agent, policy=policy, verdict=verdict, now=now)


def _fleet_agents(agent_ids: list[int] | None) -> list[Agent]:
    """The production agents (of ``agent_ids`` when given) with their drift policies, policies
    created with the playbook defaults for agents that have none (two queries, three the first
    time)."""
    qs = Agent.objects.filter(status="production").select_related("drift_policy").order_by("pk")
    if agent_ids is not None:
        qs = qs.filter(pk__in=agent_ids)
    agents = list(qs)
    missing = [a for a in agents if getattr(a, "drift_policy", None) is None]
    if missing:
        DriftPolicy.objects.bulk_create([DriftPolicy(agent=a) for a in missing], ignore_conflicts=True)
        policies = {p.agent_id: p for p in DriftPolicy.objects.filter(agent__in=missing)}
        for agent in missing:
            agent.drift_policy = policies[agent.pk]
    return agents


def drift_windows_fleet(*, agents: list[Agent], now) -> dict[int, dict[str, WindowStats]]:
    """``drift_windows`` of many agents (each with its ``drift_policy`` loaded), set-based: the
    late buckets of all of them made complete in one read, then two queries per distinct window
    configuration (one for every agent on the playbook defaults), whatever the number of agents."""
    complete_before = telemetry_services.rollup_catch_up_fleet(agent_ids=[a.pk for a in agents])
    groups: dict[tuple, list[Agent]] = {}
    for agent in agents:
        p = agent.drift_policy
        groups.setdefault((p.containment_window_minutes, p.error_window_minutes, p.baseline_hours), []).append(agent)
    out: dict[int, dict[str, WindowStats]] = {}
    for members in groups.values():
        counts = telemetry_selectors.run_windows_fleet(
            agent_ids=[a.pk for a in members],
            windows=_window_ranges(members[0].drift_policy, now),
            complete_before=complete_before,
            latency={"baseline", "recent"},
            now=now,
        )
        out.update({agent_id: _stats(c) for agent_id, c in counts.items()})
    return out


def drift_check_fleet(*, agent_ids: list[int] | None = None, now=None) -> list:
    """One drift cycle over every production agent (or those of ``agent_ids``), set-based.

    The rule per agent is ``drift_check_agent``'s, with the same windows and the same verdict
    (``drift_evaluate``); only the reads differ: the fleet's late five-minute buckets are found
    in one query, the windows of all agents that share a window configuration (every agent on
    the playbook defaults) are read by two queries (``telemetry.selectors.run_windows_fleet``),
    open alerts in one, and the statistics run in memory. So a cycle costs a constant number of
    queries whatever the fleet's size, plus per agent only what it must write: an agent with a
    breach, or an open alert to add to or clear, goes through ``_drift_record`` — alerts,
    incident and action under the policy row's lock, so a breach opens or links one incident
    and applies its action exactly once even when a per-agent check runs at the same time."""
    now = now or timezone.now()
    agents = [a for a in _fleet_agents(agent_ids) if a.drift_policy.enabled]
    if not agents:
        return []
    windows = drift_windows_fleet(agents=agents, now=now)
    verdicts = {
        agent.pk: drift_evaluate(
            policy=agent.drift_policy, success_threshold_pct=agent.success_threshold_pct, **windows[agent.pk]
        )
        for agent in agents
    }
    with_open = set(
        DriftAlert.objects.filter(agent__in=agents, status=AlertStatus.OPEN).values_list("agent_id", flat=True)
    )
    new_alerts: list = []
    for agent in agents:
        verdict = verdicts[agent.pk]
        if verdict.breaches or agent.pk in with_open:
            new_alerts += _drift_record(agent=agent, policy=agent.drift_policy, verdict=verdict, now=now)
    return new_alerts


def _drift_record(*, agent: Agent, policy, verdict: DriftVerdict, now) -> list:
    """Alerts for the breaches (new, or added to the open one), cleared alerts for healthy
    metrics, and for new alerts an incident and the policy's action."""
    if not verdict.breaches and not DriftAlert.objects.filter(agent=agent, status=AlertStatus.OPEN).exists():
        # Nothing to record and no open alert to clear (the usual case): no locks needed. An alert
        # opened meanwhile by another check is cleared by the next one if the data stays healthy.
        return []
    new_alerts: list[DriftAlert] = []
    with transaction.atomic():
        policy = DriftPolicy.objects.select_for_update().get(pk=policy.pk)
        open_alerts = {
            a.metric: a
            for a in DriftAlert.objects.select_for_update().filter(agent=agent).exclude(status=AlertStatus.RESOLVED)
        }
        for breach in verdict.breaches:
            alert = open_alerts.get(breach.metric)
            if alert is None:
                new_alerts.append(_alert_open(agent=agent, breach=breach, now=now))
            else:
                alert.occurrences += 1
                alert.last_seen_at = now
                alert.evidence = breach.evidence
                alert.save(update_fields=["occurrences", "last_seen_at", "evidence"])
        for metric in verdict.healthy:
            alert = open_alerts.get(metric)
            if alert is not None and alert.status == AlertStatus.OPEN and alert.last_seen_at < now:
                # Cleared by the data: the metric is back inside its bounds.
                alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
                alert.save(update_fields=["status", "resolved_at"])
                drift_alert_notify(alert=alert, agent=agent)
        if new_alerts:
            incident_id = _drift_incident(agent=agent, alerts=new_alerts)
            action = _drift_action(agent=agent, action=policy.action, alerts=new_alerts)
            DriftAlert.objects.filter(pk__in=[a.pk for a in new_alerts]).update(
                incident_id=incident_id, action_taken=action
            )
            for alert in new_alerts:
                alert.incident_id, alert.action_taken = incident_id, action
                drift_alert_notify(alert=alert, agent=agent)
    return new_alerts


def drift_alert_notify(*, alert, agent: Agent) -> int:
    """Tell the agent's owner and the alert channels of a drift alert, or that it is resolved
    (``registry.channels.notify``: one notification per alert and channel, queued after commit)."""
    resolved = alert.status == AlertStatus.RESOLVED
    return notify(
        Alert(
            kind="drift",
            dedup_key=f"drift:{alert.pk}",
            title=f"Drift on {agent.name}: {alert.get_metric_display()}",
            body=alert.summary,
            severity="warning",
            agent=agent,
            url=alert.get_absolute_url(),
            recipients=(agent.owner.email,) if agent.owner.email else (),
            resolved=resolved,
            details={"metric": alert.metric, "statistic": alert.statistic},
        )
    )


def _alert_open(*, agent: Agent, breach: Breach, now) -> DriftAlert:
    return DriftAlert.objects.create(
        agent=agent,
        metric=breach.metric,
        summary=breach.summary[:300],
        evidence=breach.evidence,
        statistic=breach.statistic,
        statistic_value=breach.value,
        p_value=breach.p_value,
        threshold=breach.threshold[:120],
        detected_at=now,
        last_seen_at=now,
    )


def _drift_incident(*, agent: Agent, alerts: list) -> int | None:
    cost_only = all(a.metric == DriftMetric.COST_PER_RUN for a in alerts)
    incident, _created = incident_open_or_link(
        agent=agent,
        severity="sev2",
        title=f"Drift on {agent.name}: " + "; ".join(a.get_metric_display() for a in alerts)[:150],
        failure_mode="cost_anomaly" if cost_only else "quality_regression",
        detection_source="drift_check",
        summary="\n".join(
            f"{a.summary} — {settings.QUORUM_BASE_URL.rstrip('/')}{a.get_absolute_url()}" for a in alerts
        ),
    )
    return incident.pk


def _drift_action(*, agent: Agent, action: str, alerts: list) -> str:
    # An automatic change: announced first (inside the drift transaction) so the evidence of an
    # agent in a serious incident is frozen before Quorum alters it (registry.extensions).
    current = Agent.objects.get(pk=agent.pk)
    reason = "Drift check: " + "; ".join(a.summary for a in alerts)[:500]
    if action == DriftAction.CANARY_ROLLBACK:
        if current.canary_share_pct != 0:
            automatic_change_announce(agent=current, kind="canary_rollback", reason=reason)
            agent_controls_update(agent_id=agent.pk, canary_share_pct=Decimal("0"), actor=None, reason=reason)
        return action
    if action == DriftAction.KILL_SWITCH:
        if current.side_effects_enabled:
            automatic_change_announce(agent=current, kind="kill_switch", reason=reason)
            agent_controls_update(agent_id=agent.pk, side_effects_enabled=False, actor=None, reason=reason)
        return action
    return DriftAction.NONE


@transaction.atomic
def driftalert_set_status(*, alert_id: int, status: str, user) -> Any:
    """Acknowledge or resolve an alert (compare-and-set: an already resolved alert stays resolved)."""

    if status not in (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED):
        raise ValidationError("An alert can be acknowledged or resolved.")
    alert = DriftAlert.objects.select_for_update().get(pk=alert_id)
    if alert.status == AlertStatus.RESOLVED:
        raise ValidationError("This alert is already resolved.")
    alert.status = status
    if status == AlertStatus.RESOLVED:
        alert.resolved_at, alert.resolved_by = timezone.now(), user
    alert.save()
    if status == AlertStatus.RESOLVED:
        drift_alert_notify(alert=alert, agent=alert.agent)
    return alert
