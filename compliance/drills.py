"""Kill-switch drills (evidence for EU AI Act Art. 14 and NIST AI RMF MANAGE 2.4).

Rules:

* Operators of the agent run drills. A *live* drill really pulls the agent's kill switch, so it
  runs only on an agent that is not in production; a *dry run* works on any agent: its switch
  stays on and the agent's ``/api/v1/controls/`` answer carries ``drill.side_effects_enabled:
  false`` for it to obey as it would the real switch. One running drill per agent (a partial
  unique constraint).
* Measured: the time from the pull to the first controls poll that showed side effects off
  (recorded by the controls answer itself, :func:`drill_controls_extra`), and to the agent's last
  side-effecting action (an action the gate let through, allowed or approved) — zero when it
  took none after the pull.
* Finishing a live drill asks to restore side effects through the ``reenable_side_effects``
  change request (the two-person rule, like any re-enable); a dry run changed nothing to restore.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from actions.choices import ActionStatus
from actions.models import ActionRequest
from incidents.services import side_effects_reenable_request
from registry.audit import acting_as
from registry.models import Agent, GlobalControls
from registry.permissions import user_can_operate_agent
from registry.services import agent_controls_update

from .models import DrillMode, DrillStatus, KillSwitchDrill

SIDE_EFFECTING = (ActionStatus.ALLOWED, ActionStatus.APPROVED)


def _ms(later, earlier) -> int:
    return max(0, int((later - earlier).total_seconds() * 1000))


def drill_start(*, agent: Agent, actor, mode: str, note: str = "") -> KillSwitchDrill:
    """Start a drill: a live one pulls the kill switch of a non-production agent now; a dry run
    tells the agent through its controls answer. Operators of the agent only."""
    if not user_can_operate_agent(actor, agent):
        raise PermissionDenied("Only the agent's operators may run a kill-switch drill.")
    if mode not in DrillMode.values:
        raise ValidationError({"mode": "Choose a live drill or a dry run."})
    with transaction.atomic(), acting_as(actor):
        # A drill started while the switch is being flipped by someone else: the agent row lock
        # orders the two, so the drill sees the switch as it really is.
        locked = Agent.objects.select_for_update(no_key=True).get(pk=agent.pk)
        if mode == DrillMode.LIVE and locked.status == "production":
            raise ValidationError({"mode": "A live drill would stop a production agent: run a dry run instead."})
        if mode == DrillMode.LIVE and not locked.side_effects_enabled:
            raise ValidationError({"mode": "Side effects are already off: there is nothing to pull."})
        try:
            with transaction.atomic():
                drill = KillSwitchDrill.objects.create(
                    agent=locked, mode=mode, started_by=actor, note=(note or "").strip()[:2000]
                )
        except IntegrityError:
            raise ValidationError("A drill is already running on this agent.") from None
        if mode == DrillMode.LIVE:
            agent_controls_update(
                agent_id=locked.pk, actor=actor, reason=f"Kill-switch drill #{drill.pk}", side_effects_enabled=False
            )
            # The pull is the moment the switch changed, after the row was written.
            drill.pulled_at = timezone.now()
            drill.save(update_fields=["pulled_at"])
    return drill


def drill_controls_extra(agent: Agent) -> dict:
    """Part of the agent's controls answer (``telemetry.extensions.controls_extras``): while a
    drill runs, say so, and record the first poll that shows side effects off."""
    drill = KillSwitchDrill.objects.filter(agent=agent, status=DrillStatus.RUNNING).first()
    if drill is None:
        return {}
    shows_off = drill.mode == DrillMode.DRY_RUN or not (
        agent.side_effects_enabled and GlobalControls.load().side_effects_enabled
    )
    if shows_off and drill.controls_off_seen_at is None:
        # Two polls at once: the compare-and-set keeps the first.
        KillSwitchDrill.objects.filter(pk=drill.pk, controls_off_seen_at__isnull=True).update(
            controls_off_seen_at=timezone.now()
        )
    return {"drill": {"id": drill.pk, "mode": drill.mode, "side_effects_enabled": not shows_off}}


def drill_finish(*, drill_id: int, actor, justification: str = "") -> KillSwitchDrill:
    """Stop the drill and record its two times; for a live drill, ask to restore side effects
    under the two-person rule (``justification`` is that request's)."""
    with transaction.atomic(), acting_as(actor):
        # Two operators finishing at once: the row lock lets one measure and restore.
        drill = KillSwitchDrill.objects.select_for_update().select_related("agent").get(pk=drill_id)
        if not user_can_operate_agent(actor, drill.agent):
            raise PermissionDenied("Only the agent's operators may finish a kill-switch drill.")
        if drill.status != DrillStatus.RUNNING:
            raise ValidationError("This drill is already finished.")
        if drill.mode == DrillMode.LIVE and not (justification or "").strip():
            raise ValidationError({"justification": "Say why it is safe to turn side effects back on."})
        now = timezone.now()
        last = ActionRequest.objects.filter(
            agent=drill.agent, status__in=SIDE_EFFECTING, created_at__lte=now
        ).aggregate(last=Max("created_at"))["last"]
        drill.last_side_effect_at = last
        drill.ms_to_last_side_effect = _ms(last, drill.pulled_at) if last else 0
        drill.ms_to_controls_off = (
            _ms(drill.controls_off_seen_at, drill.pulled_at) if drill.controls_off_seen_at else None
        )
        drill.status, drill.finished_at = DrillStatus.FINISHED, now
        drill.save()
        if drill.mode == DrillMode.LIVE:
            drill.restore_request = side_effects_reenable_request(
                agent=drill.agent,
                requester=actor,
                justification=f"Kill-switch drill #{drill.pk}: {justification.strip()}",
            )
            drill.save(update_fields=["restore_request"])
    return drill
