"""Rollout writes: start an approved plan, advance or stop it on its gates (the beat task), and
roll an agent back to its previous version (one operator, with a reason).

Automatic steps are announced (``registry.extensions.automatic_change_announce``) before they
are written and go on the audit chain; the human ones are audited through the registry."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from approvals.exceptions import ApplyBlocked
from incidents.choices import DetectionSource, FailureMode, Severity
from incidents.models import Incident
from incidents.services import incident_open_or_link
from registry import services as registry_services
from registry.audit import acting_as
from registry.audit_chain import chain_append
from registry.extensions import automatic_change_announce
from registry.models import Agent, AgentVersion
from registry.permissions import user_can_operate_agent, user_role_names
from registry.roles import GOVERNANCE_BOARD
from registry.services import RegistryConflict

from . import selectors
from .choices import OnFailure, PlanStatus, Verdict
from .gates import GateResult, gates_evaluate, overall
from .models import GateCheck, RolloutPlan

logger = logging.getLogger(__name__)

ROLLOUT_STEP = "rollout_step"
CANARY_ROLLBACK = "canary_rollback"


# --- starting a plan (the apply of an approved rollout_plan request) -----------------------------


def plan_start(*, request, actor) -> RolloutPlan:
    """Start the plan an approved ``rollout_plan`` request carries: the canary goes to the first
    stage's share at once. Rules: one active plan per agent (a database constraint too); a
    halted plan of the agent is cancelled, superseded by this one; there must be a deployed
    version to compare the canary with. Runs inside the engine's apply transaction."""
    p = request.payload
    agent = Agent.objects.select_for_update(no_key=True).get(pk=request.agent_id)  # lock order: the agent first
    stable = agent.deployed_version
    if stable is None or stable.pk == p["version_id"]:
        raise ApplyBlocked(f"{agent.name} has no other deployed version to compare the canary with.")
    if RolloutPlan.objects.filter(agent=agent, status=PlanStatus.ACTIVE).exists():
        raise ApplyBlocked(f"Another rollout plan of {agent.name} is in progress; it must end first.")
    now = timezone.now()
    RolloutPlan.objects.filter(agent=agent, status=PlanStatus.HALTED).update(
        status=PlanStatus.CANCELLED, ended_at=now, end_reason=f"Superseded by the plan of request #{request.pk}."
    )
    share = Decimal(p["stages"][0]["share_pct"])
    try:
        registry_services.canary_set(
            agent_id=agent.pk,
            version_id=p["version_id"],
            bundle_digest=p["bundle_digest"],
            share_pct=share,
            actor=actor,
        )
    except RegistryConflict as exc:
        raise ApplyBlocked(exc.message) from None
    plan = RolloutPlan.objects.create(
        agent=agent,
        version_id=p["version_id"],
        baseline_version=stable,
        bundle_digest=p["bundle_digest"],
        request=request,
        on_failure=p["on_failure"],
        stages=p["stages"],
        stage_started_at=now,
        success_tolerance_pp=Decimal(p["success_tolerance_pp"]),
        cost_tolerance_pct=Decimal(p["cost_tolerance_pct"]),
        p95_slo_ms=p["p95_slo_ms"],
        min_sample=p["min_sample"],
    )
    chain_append(
        action="rollout.start",
        actor=actor,
        agent=agent,
        obj=plan,
        summary=f"Rollout plan of {p['label']} started (request #{request.pk}): canary at {share} %.",
        payload={"version": p["label"], "stages": p["stages"], "on_failure": p["on_failure"]},
    )
    return plan


# --- the beat task's step ---------------------------------------------------------------------


def _evidence(results: list[GateResult]) -> str:
    return "; ".join(
        f"{r.label}: canary {r.canary}, stable {r.stable}, limit {r.limit}"
        for r in results
        if r.verdict == Verdict.FAIL
    )


def _stop(plan: RolloutPlan, results: list[GateResult], now: datetime) -> str:
    """A gate failed: halt at the current share or roll the canary back, and open (or link) an
    incident carrying the gate figures."""
    agent = plan.agent
    evidence = _evidence(results)
    names = ", ".join(r.label.lower() for r in results if r.verdict == Verdict.FAIL)
    rollback = plan.on_failure == OnFailure.ROLLBACK
    reason = (
        f"Rollout plan #{plan.pk} of {plan.version.label}, stage {plan.stage_index + 1}: {names} failed. {evidence}"
    )
    if rollback:
        automatic_change_announce(agent=agent, kind=CANARY_ROLLBACK, reason=reason)
        registry_services.agent_controls_update(
            agent_id=agent.pk, reason=reason[:500], canary_version=None, canary_share_pct=Decimal("0")
        )
    plan.status = PlanStatus.ROLLED_BACK if rollback else PlanStatus.HALTED
    plan.ended_at = now if rollback else None
    plan.end_reason = reason[:500]
    plan.save(update_fields=["status", "ended_at", "end_reason"])
    violation = any(r.name == "violations" and r.verdict == Verdict.FAIL for r in results)
    verb = "rolled back" if rollback else "halted"
    incident, _created = incident_open_or_link(
        agent=agent,
        severity=Severity.SEV3,
        title=f"Rollout of {plan.version.label} {verb}: {names} gate failed",
        failure_mode=FailureMode.POLICY_VIOLATION if violation else FailureMode.QUALITY_REGRESSION,
        detection_source=DetectionSource.MONITORING,
        summary=reason,
        version=plan.version,
    )
    chain_append(
        action=f"rollout.{'rollback' if rollback else 'halt'}",
        agent=agent,
        obj=plan,
        summary=reason[:1000],
        payload={"gates": [r.as_dict() for r in results], "incident": incident.pk},
    )
    return f"{verb}; incident {incident.reference}"


def _advance(plan: RolloutPlan, now: datetime) -> str:
    """Gates passed and the stage lasted its minimum: the next stage's share, or go-live after the
    last stage. Announced before writing; on the audit chain after."""
    agent = plan.agent
    nxt = plan.stage_index + 1
    going_live = nxt >= len(plan.stages)
    share = Decimal("100") if going_live else Decimal(plan.stages[nxt]["share_pct"])
    reason = (
        f"Rollout plan #{plan.pk}: stage {plan.stage_index + 1} gates passed; "
        f"{plan.version.label} {plan.current_share} % → {share} %" + (" (go-live)." if going_live else ".")
    )
    automatic_change_announce(agent=agent, kind=ROLLOUT_STEP, reason=reason)
    if going_live:
        registry_services.version_deploy(version_id=plan.version_id, bundle_digest=plan.bundle_digest)
        plan.status, plan.ended_at, plan.end_reason = PlanStatus.COMPLETED, now, reason
    else:
        registry_services.canary_set(
            agent_id=agent.pk, version_id=plan.version_id, bundle_digest=plan.bundle_digest, share_pct=share
        )
        plan.stage_index, plan.stage_started_at = nxt, now
    plan.save(update_fields=["status", "ended_at", "end_reason", "stage_index", "stage_started_at"])
    chain_append(
        action="rollout.complete" if going_live else "rollout.step",
        agent=agent,
        obj=plan,
        summary=reason,
        payload={"stage": nxt, "share_pct": str(share)},
    )
    return "went live at 100 %" if going_live else f"advanced to {share} %"


def _cancel_if_moved(plan: RolloutPlan, now: datetime) -> str | None:
    """A person changed the canary by hand (a rollout step, a rollback): the plan no longer
    drives it and ends, rather than fighting the person."""
    if plan.agent.canary_version_id == plan.version_id:
        return None
    plan.status, plan.ended_at = PlanStatus.CANCELLED, now
    plan.end_reason = "The canary was changed outside the plan."
    plan.save(update_fields=["status", "ended_at", "end_reason"])
    chain_append(action="rollout.cancel", agent=plan.agent, obj=plan, summary=plan.end_reason)
    return "cancelled: the canary was changed outside the plan"


def plan_tick(*, plan_id: int, now: datetime | None = None) -> str:
    """Evaluate the gates of an active plan's current stage and act: stop on a failing gate,
    advance when they pass and the stage's minimum duration is over, else wait. Records the
    evaluation on the stage's ``GateCheck``. Idempotent: run twice, it makes one step."""
    now = now or timezone.now()
    with transaction.atomic():
        # Race: two runs of the beat task (an overlap, a redelivered message) evaluating the same
        # stage would both advance it. The row lock serialises them; the second sees the new
        # stage, which has only just started, and waits.
        plan = RolloutPlan.objects.select_for_update().select_related("agent", "version").get(pk=plan_id)
        if plan.status != PlanStatus.ACTIVE:
            return f"not active ({plan.status})"
        cancelled = _cancel_if_moved(plan, now)
        if cancelled:
            return cancelled
        agent, stage = plan.agent, plan.stage_index
        window = plan.stage_started_at
        stable = agent.deployed_version
        canary_f = selectors.version_figures(agent=agent, version_id=plan.version_id, start=window, end=now)
        stable_f = selectors.version_figures(agent=agent, version_id=stable.pk if stable else 0, start=window, end=now)
        violations = selectors.new_violations(agent=agent, version_id=plan.version_id, since=window)
        results = gates_evaluate(plan=plan, canary=canary_f, stable=stable_f, violations=violations)
        verdict = overall(results)
        due = now >= window + timedelta(hours=float(plan.stages[stage]["min_hours"]))
        try:
            if verdict == Verdict.FAIL:
                outcome = _stop(plan, results, now)
            elif verdict == Verdict.PASS and due:
                outcome = _advance(plan, now)
            else:
                outcome = "waiting for the minimum duration" if verdict == Verdict.PASS else "waiting for runs"
        except RegistryConflict as exc:
            plan.status, plan.end_reason = PlanStatus.HALTED, exc.message[:500]
            plan.save(update_fields=["status", "end_reason"])
            outcome = f"halted: {exc.message}"
        GateCheck.objects.update_or_create(
            plan=plan,
            stage_index=stage,
            defaults={
                "verdict": verdict,
                "outcome": outcome[:200],
                "checked_at": now,
                "window_start": window,
                "canary_runs": canary_f.sums.n,
                "stable_runs": stable_f.sums.n,
                "gates": [r.as_dict() for r in results],
            },
        )
    return outcome


def plans_tick_all(*, now: datetime | None = None) -> dict[int, str]:
    """One tick of every active plan, each in its own transaction (one failing plan does not
    stop the others; it is logged and tried again at the next tick)."""
    outcomes = {}
    for plan_id in RolloutPlan.objects.filter(status=PlanStatus.ACTIVE).values_list("pk", flat=True):
        try:
            outcomes[plan_id] = plan_tick(plan_id=plan_id, now=now)
        except Exception:  # noqa: BLE001 - isolate plans from each other; the next tick retries
            logger.exception("rollout plan %s: tick failed", plan_id)
    return outcomes


# --- rollback to the previous version -------------------------------------------------------------


def rollback_to_previous(*, agent: Agent, actor, reason: str) -> tuple[AgentVersion, AgentVersion, Incident, bool]:
    """Put the previously deployed version back, now: operators (``operate_agent``) only, one
    person, a reason always — like the kill switch, it reduces risk. The current version becomes
    rolled back (going forward again is a go-live or rollout-plan request, with approvals), the
    canary goes to 0, the controls revision is bumped (agents see it on their next poll), open
    rollout plans end, and an incident is opened or linked. Returns ``(previous, rolled_back,
    incident, created)``."""
    if not user_can_operate_agent(actor, agent):
        raise PermissionDenied("Only operators may roll an agent back.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why you are rolling back."})
    if len(reason) > 500:
        raise ValidationError({"reason": "Keep the reason under 500 characters."})
    with transaction.atomic(), acting_as(actor):
        try:
            previous, rolled = registry_services.version_rollback_to_previous(
                agent_id=agent.pk, actor=actor, reason=reason
            )
        except RegistryConflict as exc:
            raise ValidationError({"agent": exc.message}) from None
        now = timezone.now()
        RolloutPlan.objects.filter(agent=agent, status__in=[PlanStatus.ACTIVE, PlanStatus.HALTED]).update(
            status=PlanStatus.ROLLED_BACK, ended_at=now, end_reason=f"Rolled back to {previous.label}: {reason}"[:500]
        )
        incident, created = incident_open_or_link(
            agent=agent,
            severity=Severity.SEV3,
            title=f"{agent.name} rolled back from {rolled.label} to {previous.label}",
            failure_mode=FailureMode.QUALITY_REGRESSION,
            detection_source=DetectionSource.PERSON,
            opened_by=actor,
            summary=reason,
            version=rolled,
            commander=actor,
        )
        chain_append(
            action="rollout.rollback_version",
            actor=actor,
            agent=agent,
            obj=previous,
            summary=f"{agent.slug} rolled back from {rolled.label} to {previous.label}: {reason}",
            payload={"from": rolled.label, "to": previous.label, "reason": reason, "incident": incident.pk},
        )
    agent.refresh_from_db()
    return previous, rolled, incident, created


# --- cancelling a halted plan ---------------------------------------------------------------------


def may_cancel_plan(user, agent: Agent) -> bool:
    """Rule: one operator of the agent (``operate_agent``) or a member of the governance board may
    cancel a halted plan — it moves nothing, so one person suffices."""
    return user_can_operate_agent(user, agent) or GOVERNANCE_BOARD in user_role_names(user)


def plan_cancel(*, plan_id: int, actor, reason: str) -> RolloutPlan:
    """End a halted plan: it is cancelled with the actor's reason, on the audit chain. Rules: only
    a halted plan (an active one is stopped by rolling back); one operator or the board
    (``may_cancel_plan``), a reason always; the canary stays where it is (cancelling changes no
    traffic). There is no resuming: going forward again is a new rollout-plan request, which needs
    the two-person approval."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why you are cancelling the plan."})
    if len(reason) > 450:
        raise ValidationError({"reason": "Keep the reason under 450 characters."})
    with transaction.atomic(), acting_as(actor):
        # Race: the cancellation against a new plan's start (which cancels halted plans itself) or
        # a rollback (which ends them). Lock order as in plan_start: the agent, then the plan.
        plan = RolloutPlan.objects.select_related("agent", "version").filter(pk=plan_id).first()
        if plan is None:
            raise ValidationError("No such rollout plan.")
        agent = Agent.objects.select_for_update(no_key=True).get(pk=plan.agent_id)
        if not may_cancel_plan(actor, agent):
            raise PermissionDenied("Only an operator of this agent or the governance board may cancel its plan.")
        plan = RolloutPlan.objects.select_for_update().select_related("version").get(pk=plan_id)
        if plan.status != PlanStatus.HALTED:
            raise ValidationError(
                f"Only a halted plan can be cancelled; this one is {plan.get_status_display().lower()}."
            )
        plan.status, plan.ended_at = PlanStatus.CANCELLED, timezone.now()
        plan.end_reason = f"Cancelled by {actor.get_username()}: {reason}"[:500]
        plan.save(update_fields=["status", "ended_at", "end_reason"])
        chain_append(
            action="rollout.cancel",
            actor=actor,
            agent=agent,
            obj=plan,
            summary=f"Halted rollout plan of {plan.version.label} cancelled; the canary stays at "
            f"{agent.canary_share_pct} %: {reason}",
            payload={"reason": reason, "canary_share_pct": str(agent.canary_share_pct)},
        )
    return plan
