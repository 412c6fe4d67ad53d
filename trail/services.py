"""Retention and legal hold: the rules, and the purge that applies them.

The purge is one service, :func:`retention_purge`, run nightly by beat (``trail.tasks``) and by
``manage.py retention_purge``. For each family of records it computes the cut-off (now minus the
family's days), asks the owning app to delete or empty one batch at a time (each batch its own
short transaction, so no lock is held for long), and never touches the records of an agent under
an active legal hold. Running it twice purges nothing more the second time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from actions.services import parameters_purge_expired
from incidents.services import incidents_purge_closed_before
from registry.audit import acting_as
from registry.audit_chain import chain_prune_before, checkpoint_before
from registry.models import Agent, AuditEntry
from telemetry.services import run_metadata_purge_before, runs_purge_before

from .choices import AI_ACT_MINIMUM_DAYS, DEFAULT_DAYS, LOG_FAMILIES, MAXIMUM_DAYS, RecordFamily
from .explorer import chain_verify_record
from .models import LegalHold, PurgeRun, RetentionRule

HOLD_PERM = "trail.add_legalhold"
RETENTION_PERM = "trail.change_retentionrule"
# A purge never runs away: at most this many batches per family per run (the next night goes on).
MAX_BATCHES = 10_000


def retention_days() -> dict[str, int]:
    """Days kept per family: the stored rule, else the default."""
    stored = dict(RetentionRule.objects.values_list("family", "days"))
    return {family: stored.get(family, DEFAULT_DAYS[family]) for family in RecordFamily.values}


def retention_rule_set(*, family: str, days: int, actor) -> RetentionRule:
    """Change how long one family is kept. The governance board only; logs (runs, audit entries,
    incidents) never below six months (EU AI Act Art. 19, 26(6)); audited like every model
    change. A shorter period takes effect at the next purge."""
    if not actor.has_perm(RETENTION_PERM):
        raise PermissionDenied("Only the governance board changes retention periods.")
    if family not in RecordFamily.values:
        raise ValidationError({"family": f"Unknown record family {family!r}."})
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAXIMUM_DAYS:
        raise ValidationError({"days": f"A whole number of days from 1 to {MAXIMUM_DAYS}."})
    if family in LOG_FAMILIES and days < AI_ACT_MINIMUM_DAYS:
        raise ValidationError({"days": f"Logs are kept at least {AI_ACT_MINIMUM_DAYS} days (EU AI Act, Art. 19)."})
    with transaction.atomic(), acting_as(actor):
        rule = RetentionRule.objects.select_for_update().filter(family=family).first()
        if rule is None:
            rule = RetentionRule(family=family)
        rule.days = days
        rule.updated_by = actor
        rule.save()
    return rule


# --- legal hold -----------------------------------------------------------------------------------


def held_agent_ids() -> set[int]:
    return set(LegalHold.objects.filter(released_at__isnull=True).values_list("agent_id", flat=True))


def legal_hold_set(*, agent: Agent, actor, reason: str) -> LegalHold:
    """Put ``agent`` under legal hold: from now on no purge touches its runs, action parameters,
    incidents, audit entries or trace spans (telemetry asks through ``retention_holds``). The
    governance board and auditors only (``trail.add_legalhold``); a reason always;
    one active hold per agent (a database constraint settles two at once)."""
    if not actor.has_perm(HOLD_PERM):
        raise PermissionDenied("Only the governance board and auditors set legal holds.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the agent's records must be kept (e.g. the matter or request)."})
    try:
        with transaction.atomic(), acting_as(actor):
            return LegalHold.objects.create(agent=agent, reason=reason[:2000], set_by=actor)
    except IntegrityError:
        raise ValidationError({"reason": f"{agent.name} is already under legal hold."}) from None


def legal_hold_release(*, hold_id: int, actor, reason: str) -> LegalHold:
    """Release a legal hold (board or auditor, with a reason). The agent's records become due for
    the normal retention again at the next purge; the hold stays on record."""
    if not actor.has_perm(HOLD_PERM):
        raise PermissionDenied("Only the governance board and auditors release legal holds.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"release_reason": "Say why the hold may end."})
    with transaction.atomic(), acting_as(actor):
        # Two people releasing at once: the row lock makes the second see it released.
        hold = LegalHold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None or hold.released_at is not None:
            raise ValidationError({"release_reason": "This hold is not active any more."})
        hold.released_at = timezone.now()
        hold.released_by = actor
        hold.release_reason = reason[:2000]
        hold.save(update_fields=["released_at", "released_by", "release_reason"])
    return hold


# --- the purge ------------------------------------------------------------------------------------


def _repeat(step: Callable[[], int]) -> int:
    """Call one batch after another until a batch purges nothing."""
    total = 0
    for _ in range(MAX_BATCHES):
        done = step()
        if not done:
            break
        total += done
    return total


def retention_cutoffs(now: datetime | None = None) -> dict[str, datetime]:
    """Per family: records older than this are due."""
    now = now or timezone.now()
    return {family: now - timedelta(days=days) for family, days in retention_days().items()}


def audit_entries_purge(*, before: datetime, held: set[int]) -> int:
    """Prune the audit chain through the newest signed checkpoint whose head is older than
    ``before`` (``registry.audit_chain.chain_prune_before``: whole checkpointed segments only, the
    signed head kept, so verification still passes). Under a legal hold the cut-off moves back to
    before the held agents' oldest entry, so none of their entries goes. The chain is verified
    first (the result is kept for the explorer); a broken chain is evidence and is never pruned."""
    if not chain_verify_record().ok:
        return 0
    if held:
        oldest = AuditEntry.objects.filter(agent_id__in=held).aggregate(m=Min("occurred_at"))["m"]
        if oldest is not None and oldest < before:
            before = oldest
    checkpoint = checkpoint_before(before)
    if checkpoint is None:
        return 0
    return chain_prune_before(checkpoint)


def retention_purge(*, now: datetime | None = None, batch: int = 2000) -> PurgeRun:
    """Purge every family's records past its retention, skipping agents under legal hold, one
    batch per transaction. Idempotent: what went is gone, and what is left is not due yet."""
    now = now or timezone.now()
    days = retention_days()
    cutoffs = retention_cutoffs(now)
    held = held_agent_ids()
    run = PurgeRun.objects.create(started_at=now, cutoffs={f: c.isoformat() for f, c in cutoffs.items()})
    counts = {
        RecordFamily.RUNS: _repeat(
            lambda: runs_purge_before(before=cutoffs[RecordFamily.RUNS], exclude_agent_ids=held, batch=batch)
        ),
        RecordFamily.RUN_METADATA: _repeat(
            lambda: run_metadata_purge_before(
                before=cutoffs[RecordFamily.RUN_METADATA], exclude_agent_ids=held, batch=batch
            )
        ),
        RecordFamily.ACTION_PARAMETERS: _repeat(
            lambda: parameters_purge_expired(
                now=now, batch=batch, max_days=days[RecordFamily.ACTION_PARAMETERS], exclude_agent_ids=held
            )
        ),
        RecordFamily.INCIDENTS: _repeat(
            lambda: incidents_purge_closed_before(
                before=cutoffs[RecordFamily.INCIDENTS], exclude_agent_ids=held, keep_fleet_wide=bool(held), batch=200
            )
        ),
    }
    counts[RecordFamily.AUDIT_ENTRIES] = audit_entries_purge(before=cutoffs[RecordFamily.AUDIT_ENTRIES], held=held)
    run.counts = {str(family): n for family, n in counts.items()}
    run.held_agents = sorted(Agent.objects.filter(pk__in=held).values_list("slug", flat=True))
    run.finished_at = timezone.now()
    run.save(update_fields=["counts", "held_agents", "finished_at"])
    return run
