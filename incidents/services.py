"""Incident rules: opening and linking reports, allowed transitions, postmortems and their
action items, the kill switch, ad-hoc reviews and the daily overdue reminder."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import date, datetime, timedelta
from decimal import Decimal

from auditlog.context import disable_auditlog
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists
from django.template.loader import render_to_string
from django.utils import timezone

from registry.audit import acting_as
from registry.choices import ReviewKind, ReviewStatus
from registry.models import Agent, AgentVersion, Review
from registry.permissions import user_can_operate_agent
from registry.reviews import review_open_ad_hoc
from registry.selectors import user_display_name
from registry.services import agent_controls_update, global_controls_set

from .choices import (
    ACTIVE_STATUSES,
    ALLOWED_TRANSITIONS,
    MAJOR_SEVERITIES,
    PENDING_ITEM_STATES,
    ActionItemState,
    DetectionSource,
    FailureMode,
    IncidentStatus,
    PostmortemStatus,
    Severity,
    TimelineKind,
)
from .models import ActionItem, Incident, IncidentRun, OverdueReminder, Postmortem, TimelineEntry

logger = logging.getLogger(__name__)

# Lower rank = more severe; used to escalate a linked incident, never to downgrade it.
SEVERITY_RANK = {Severity.SEV1: 1, Severity.SEV2: 2, Severity.SEV3: 3}
# How soon the governance board must look at an agent after a major incident.
AD_HOC_REVIEW_DUE_DAYS = {Severity.SEV1: 7, Severity.SEV2: 14}
MAX_RUN_IDS = 200
MAX_RUN_ID_LENGTH = 128
EDITABLE_FIELDS = frozenset(
    {"severity", "title", "summary", "failure_mode", "customer_impact", "financial_impact_usd", "commander", "version"}
)


def _timeline_add(
    *, incident: Incident, kind: str, note: str, actor=None, from_status: str = "", to_status: str = ""
) -> TimelineEntry:
    return TimelineEntry.objects.create(
        incident=incident, kind=kind, note=note[:4000], actor=actor, from_status=from_status, to_status=to_status
    )


def _check_choice(value: str, choices, field: str) -> None:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ValidationError({field: f"“{value}” is not a valid {field.replace('_', ' ')}; use one of: {allowed}."})


def _who(user) -> str:
    return user_display_name(user, nobody="Quorum")


def incident_validate_report(
    *, severity: str, failure_mode: str, detection_source: str, title: str, customer_impact: str = ""
) -> None:
    """Rules for a new report: known severity, failure mode and detection source; a title;
    and a person declaring a SEV1 says what the customer impact is (SEV1 means customers,
    regulators or money were hit, so the reporter knows which)."""
    _check_choice(severity, Severity, "severity")
    _check_choice(failure_mode, FailureMode, "failure_mode")
    _check_choice(detection_source, DetectionSource, "detection_source")
    if not title or not title.strip():
        raise ValidationError({"title": "An incident needs a title."})
    if severity == Severity.SEV1 and detection_source == DetectionSource.PERSON and not customer_impact.strip():
        raise ValidationError({"customer_impact": "A SEV1 needs the customer impact: who or what was hit."})


def _schedule_ad_hoc_review(*, incident: Incident, actor=None) -> None:
    """A SEV1 or SEV2 incident puts the agent in front of the governance board: an ad-hoc
    review due in 7 (SEV1) or 14 (SEV2) days. An open ad-hoc incident review of the agent
    already covers a new incident, so there is never more than one waiting."""
    if incident.agent_id is None or incident.severity not in MAJOR_SEVERITIES or incident.review_id:
        return
    review = (
        Review.objects.filter(agent_id=incident.agent_id, kind=ReviewKind.AD_HOC_INCIDENT, status=ReviewStatus.OPEN)
        .order_by("due_on")
        .first()
    )
    if review is None:
        # Through registry's one way to open a review: pre-filled and mailed like a scheduled one.
        review = review_open_ad_hoc(
            agent=incident.agent,
            kind=ReviewKind.AD_HOC_INCIDENT,
            reason=f"{incident.reference} ({incident.get_severity_display()[:4]}): {incident.title}",
            due_on=timezone.localdate() + timedelta(days=AD_HOC_REVIEW_DUE_DAYS[incident.severity]),
            actor=actor,
        )
        note = f"Ad-hoc review of {incident.agent} scheduled, due {review.due_on:%Y-%m-%d}."
    else:
        note = f"Covered by the ad-hoc review already open for {incident.agent}, due {review.due_on:%Y-%m-%d}."
    incident.review = review
    incident.save(update_fields=["review", "updated_at"])
    _timeline_add(incident=incident, kind=TimelineKind.REVIEW, note=note, actor=actor)


def _escalate_if_worse(*, incident: Incident, severity: str, actor, why: str) -> None:
    if SEVERITY_RANK[Severity(severity)] < SEVERITY_RANK[Severity(incident.severity)]:
        old = incident.get_severity_display()
        incident.severity = severity
        incident.save(update_fields=["severity", "updated_at"])
        _timeline_add(
            incident=incident,
            kind=TimelineKind.SEVERITY,
            note=f"Severity raised from {old[:4]} to {incident.get_severity_display()[:4]}: {why}",
            actor=actor,
        )
        _schedule_ad_hoc_review(incident=incident, actor=actor)


def _link_runs(*, incident: Incident, run_ids, actor) -> list[str]:
    cleaned = []
    for raw in run_ids or ():
        run_id = str(raw).strip()
        if not run_id:
            continue
        if len(run_id) > MAX_RUN_ID_LENGTH:
            raise ValidationError({"run_ids": f"A run id is at most {MAX_RUN_ID_LENGTH} characters."})
        if run_id not in cleaned:
            cleaned.append(run_id)
    if len(cleaned) > MAX_RUN_IDS:
        raise ValidationError({"run_ids": f"Link at most {MAX_RUN_IDS} runs at once."})
    existing = set(incident.linked_runs.filter(run_id__in=cleaned).values_list("run_id", flat=True))
    new = [r for r in cleaned if r not in existing]
    for run_id in new:
        IncidentRun.objects.create(incident=incident, run_id=run_id, linked_by=actor)
    if new:
        _timeline_add(
            incident=incident, kind=TimelineKind.RUNS, note=f"Linked run(s): {', '.join(new)}"[:4000], actor=actor
        )
    return new


def incident_open_or_link(
    *,
    agent: Agent,
    severity: str,
    title: str,
    failure_mode: str,
    detection_source: str,
    opened_by=None,
    summary: str = "",
    version: AgentVersion | None = None,
    customer_impact: str = "",
    financial_impact_usd: Decimal | None = None,
    commander=None,
    run_ids: list[str] | tuple[str, ...] = (),
) -> tuple[Incident, bool]:
    """Open an incident on ``agent``, or link the report to the agent's active one.

    Rule: an agent has at most one active (open or mitigated) incident — a database
    constraint — so a second report (a drift check, the kill switch, a person) becomes
    a timeline entry on it, and raises its severity if the new report is worse. A new
    SEV1/SEV2 schedules an ad-hoc review. Returns ``(incident, created)``."""
    incident_validate_report(
        severity=severity,
        failure_mode=failure_mode,
        detection_source=detection_source,
        title=title,
        customer_impact=customer_impact,
    )
    source_label = DetectionSource(detection_source).label.lower()
    with transaction.atomic(), acting_as(opened_by):
        existing = Incident.objects.select_for_update().filter(agent=agent, status__in=ACTIVE_STATUSES).first()
        if existing is None:
            if version is None:
                version = agent.deployed_version
            try:
                # The savepoint lets a concurrent opener's insert win without poisoning our transaction.
                with transaction.atomic():
                    incident = Incident.objects.create(
                        agent=agent,
                        version=version,
                        severity=severity,
                        title=title.strip()[:200],
                        summary=summary,
                        failure_mode=failure_mode,
                        detection_source=detection_source,
                        customer_impact=customer_impact,
                        financial_impact_usd=financial_impact_usd,
                        commander=commander,
                        opened_by=opened_by,
                    )
            except IntegrityError:
                existing = Incident.objects.select_for_update().get(agent=agent, status__in=ACTIVE_STATUSES)
            else:
                _timeline_add(
                    incident=incident,
                    kind=TimelineKind.OPENED,
                    note=f"Opened by {_who(opened_by)} ({source_label}): {title.strip()}"
                    + (f"\n{summary.strip()}" if summary.strip() else ""),
                    actor=opened_by,
                    to_status=IncidentStatus.OPEN,
                )
                _link_runs(incident=incident, run_ids=run_ids, actor=opened_by)
                _schedule_ad_hoc_review(incident=incident, actor=opened_by)
                return incident, True
        _timeline_add(
            incident=existing,
            kind=TimelineKind.LINKED,
            note=f"New report from {_who(opened_by)} ({source_label}, {Severity(severity).label[:4]}): {title.strip()}"
            + (f"\n{summary.strip()}" if summary.strip() else ""),
            actor=opened_by,
        )
        _escalate_if_worse(incident=existing, severity=severity, actor=opened_by, why=title.strip())
        _link_runs(incident=existing, run_ids=run_ids, actor=opened_by)
        if existing.commander_id is None and commander is not None:
            existing.commander = commander
            existing.save(update_fields=["commander", "updated_at"])
        return existing, False


def fleet_incident_open_or_link(
    *, severity: str, title: str, failure_mode: str, detection_source: str, opened_by=None, summary: str = ""
) -> tuple[Incident, bool]:
    """The fleet-wide counterpart of ``incident_open_or_link`` (one active fleet incident)."""
    incident_validate_report(
        severity=severity, failure_mode=failure_mode, detection_source=detection_source, title=title
    )
    with transaction.atomic(), acting_as(opened_by):
        existing = Incident.objects.select_for_update().filter(fleet_wide=True, status__in=ACTIVE_STATUSES).first()
        if existing is None:
            try:
                with transaction.atomic():
                    incident = Incident.objects.create(
                        fleet_wide=True,
                        severity=severity,
                        title=title.strip()[:200],
                        summary=summary,
                        failure_mode=failure_mode,
                        detection_source=detection_source,
                        opened_by=opened_by,
                        commander=opened_by,
                    )
            except IntegrityError:
                existing = Incident.objects.select_for_update().get(fleet_wide=True, status__in=ACTIVE_STATUSES)
            else:
                _timeline_add(
                    incident=incident,
                    kind=TimelineKind.OPENED,
                    note=f"Opened by {_who(opened_by)}: {title.strip()}" + (f"\n{summary}" if summary else ""),
                    actor=opened_by,
                    to_status=IncidentStatus.OPEN,
                )
                return incident, True
        _timeline_add(
            incident=existing,
            kind=TimelineKind.LINKED,
            note=f"New report from {_who(opened_by)}: {title}",
            actor=opened_by,
        )
        _escalate_if_worse(incident=existing, severity=severity, actor=opened_by, why=title.strip())
        return existing, False


def incident_missing_for(*, incident: Incident, to_status: str) -> list[str]:
    """What the record still lacks before the incident may take ``to_status``.

    Rules by severity: a SEV1/SEV2 needs an incident commander before it is mitigated,
    resolved or closed; every incident needs its failure mode classified to be resolved;
    a SEV1 needs its customer and financial impact recorded to be resolved; a SEV1/SEV2
    closes only with a published postmortem whose action items all have an owner."""
    missing = []
    major = incident.severity in MAJOR_SEVERITIES
    past_open = (IncidentStatus.MITIGATED, IncidentStatus.RESOLVED, IncidentStatus.CLOSED)
    if to_status in past_open and major and incident.commander_id is None:
        missing.append("an incident commander (required for SEV1 and SEV2)")
    if to_status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        missing += _missing_to_resolve(incident)
    if to_status == IncidentStatus.CLOSED:
        missing += _missing_to_close(incident, major=major)
    return missing


def _missing_to_resolve(incident: Incident) -> list[str]:
    """Resolving needs a failure mode; a SEV1 also its customer and financial impact."""
    missing = []
    if incident.failure_mode == FailureMode.UNCLASSIFIED:
        missing.append("a failure mode")
    if incident.severity == Severity.SEV1:
        if not incident.customer_impact.strip():
            missing.append("the customer impact (required for SEV1)")
        if incident.financial_impact_usd is None:
            missing.append("the financial impact in USD (required for SEV1; 0 if none)")
    return missing


def _missing_to_close(incident: Incident, *, major: bool) -> list[str]:
    """A SEV1/SEV2 closes with a published postmortem; any incident only when every action item
    of its postmortem (if it has one) has an owner."""
    postmortem = Postmortem.objects.filter(incident=incident).first()
    if not major:
        if postmortem is not None and postmortem.action_items.filter(owner__isnull=True).exists():
            return ["an owner for every action item"]
        return []
    if postmortem is None:
        return ["a postmortem (required for SEV1 and SEV2)"]
    if not postmortem.is_published:
        return ["the postmortem to be published"]
    ownerless = postmortem.action_items.filter(owner__isnull=True).count()
    return [f"an owner for {ownerless} action item(s)"] if ownerless else []


def incident_transition(*, incident_id: int, to_status: str, note: str, actor=None) -> Incident:
    """Move an incident along ``ALLOWED_TRANSITIONS`` (open → mitigated → resolved → closed,
    with reopen from mitigated or resolved), with a note that lands on the timeline.

    The row is locked so two responders clicking at once cannot both move it from the same
    state. Entering a state stamps its time (time to mitigate and resolve follow from
    these); reopening clears the stamps of the states it undoes. A refused move changes nothing."""
    _check_choice(to_status, IncidentStatus, "status")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say why: every status change needs a note."})
    with transaction.atomic(), acting_as(actor):
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        from_status = incident.status
        if to_status not in ALLOWED_TRANSITIONS[from_status]:
            allowed = ", ".join(IncidentStatus(s).label.lower() for s in ALLOWED_TRANSITIONS[from_status]) or "none"
            raise ValidationError(
                {
                    "status": f"An incident that is {IncidentStatus(from_status).label.lower()} cannot become "
                    f"{IncidentStatus(to_status).label.lower()} (allowed: {allowed})."
                }
            )
        missing = incident_missing_for(incident=incident, to_status=to_status)
        if missing:
            raise ValidationError(
                {"status": f"Cannot mark {incident.reference} {to_status}: it still needs {'; '.join(missing)}."}
            )
        now = timezone.now()
        if to_status == IncidentStatus.OPEN:
            if from_status == IncidentStatus.RESOLVED:
                incident.resolved_at = None
            else:
                incident.mitigated_at = None
        elif to_status == IncidentStatus.MITIGATED:
            incident.mitigated_at = now
        elif to_status == IncidentStatus.RESOLVED:
            incident.resolved_at = now
        elif to_status == IncidentStatus.CLOSED:
            incident.closed_at = now
        incident.status = to_status
        try:
            with transaction.atomic():
                incident.save()
        except IntegrityError:
            # Reopening while a newer incident on the agent is active would make two active ones.
            raise ValidationError(
                {"status": f"{incident.subject} already has another active incident; add to that one instead."}
            ) from None
        _timeline_add(
            incident=incident,
            kind=TimelineKind.STATUS,
            note=note,
            actor=actor,
            from_status=from_status,
            to_status=to_status,
        )
        if to_status == IncidentStatus.RESOLVED and incident.needs_postmortem:
            postmortem, created = Postmortem.objects.get_or_create(incident=incident)
            if created:
                _timeline_add(
                    incident=incident,
                    kind=TimelineKind.POSTMORTEM,
                    note=f"Postmortem due by {incident.postmortem_due_at:%Y-%m-%d %H:%M} UTC "
                    "(72 hours after resolution).",
                    actor=None,
                )
    return incident


def incident_update(*, incident_id: int, actor=None, note: str = "", **changes) -> Incident:
    """Edit an incident's details (severity, title, summary, failure mode, impact, commander,
    version). A closed incident is part of the record and no longer changes. Raising the
    severity to SEV1/SEV2 schedules the ad-hoc review; every change is on the timeline."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"Not an editable incident field: {', '.join(sorted(unknown))}")
    if "severity" in changes:
        _check_choice(changes["severity"], Severity, "severity")
    if "failure_mode" in changes:
        _check_choice(changes["failure_mode"], FailureMode, "failure_mode")
    if "title" in changes and not (changes["title"] or "").strip():
        raise ValidationError({"title": "An incident needs a title."})
    if changes.get("financial_impact_usd") is not None and changes["financial_impact_usd"] < 0:
        raise ValidationError({"financial_impact_usd": "Financial impact cannot be negative."})
    with transaction.atomic(), acting_as(actor):
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        if incident.status == IncidentStatus.CLOSED:
            raise ValidationError(f"{incident.reference} is closed; its record no longer changes.")
        if "version" in changes and changes["version"] is not None and changes["version"].agent_id != incident.agent_id:
            raise ValidationError({"version": "That version belongs to another agent."})
        changed = []
        for field, value in changes.items():
            if getattr(incident, field) != value:
                label = Incident._meta.get_field(field).verbose_name
                changed.append(f"{label}: {_display(incident, field)} → {_display_value(incident, field, value)}")
                setattr(incident, field, value)
        if not changed:
            return incident
        incident.save()
        _timeline_add(
            incident=incident,
            kind=TimelineKind.SEVERITY if "severity" in changes else TimelineKind.NOTE,
            note="Updated " + "; ".join(changed) + (f"\n{note.strip()}" if note.strip() else ""),
            actor=actor,
        )
        _schedule_ad_hoc_review(incident=incident, actor=actor)
    return incident


def _display(incident: Incident, field: str) -> str:
    return _display_value(incident, field, getattr(incident, field))


def _display_value(incident: Incident, field: str, value) -> str:
    if value in (None, ""):
        return "—"
    if field == "severity":
        return Severity(value).label[:4]
    if field == "failure_mode":
        return FailureMode(value).label
    if field == "commander":
        return _who(value)
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def incident_add_note(*, incident_id: int, note: str, actor=None) -> TimelineEntry:
    """Add a free-text note to the timeline (closed incidents included: the record may
    still gain context, it never loses any)."""
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "A note cannot be empty."})
    incident = Incident.objects.get(pk=incident_id)
    return _timeline_add(incident=incident, kind=TimelineKind.NOTE, note=note, actor=actor)


def incident_link_runs(*, incident_id: int, run_ids: list[str], actor=None) -> list[str]:
    """Link runs (by the agent's run ids) to an incident for replay; already linked ids are
    ignored. Returns the newly linked ids."""
    with transaction.atomic(), acting_as(actor):
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        if incident.fleet_wide:
            raise ValidationError({"run_ids": "A fleet-wide incident has no single agent to take runs from."})
        return _link_runs(incident=incident, run_ids=run_ids, actor=actor)


# --- postmortems --------------------------------------------------------------------------


def postmortem_save(*, incident_id: int, actor=None, **sections) -> Postmortem:
    """Create or edit the postmortem's sections. A published postmortem is the record and
    no longer changes (amendments go on the incident timeline)."""
    unknown = set(sections) - set(Postmortem.SECTIONS)
    if unknown:
        raise ValueError(f"Not a postmortem section: {', '.join(sorted(unknown))}")
    with transaction.atomic(), acting_as(actor):
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        postmortem, created = Postmortem.objects.get_or_create(incident=incident, defaults={"author": actor})
        if postmortem.is_published:
            raise ValidationError("This postmortem is published; it no longer changes.")
        for field, value in sections.items():
            setattr(postmortem, field, value or "")
        if postmortem.author_id is None:
            postmortem.author = actor
        postmortem.save()
        if created:
            _timeline_add(
                incident=incident,
                kind=TimelineKind.POSTMORTEM,
                note=f"Postmortem started by {_who(actor)}.",
                actor=actor,
            )
    return postmortem


def postmortem_publish(*, incident_id: int, actor=None) -> Postmortem:
    """Publish the postmortem: only once the incident is resolved, with a summary, the
    impact and the root cause written. Publishing is final."""
    with transaction.atomic(), acting_as(actor):
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        postmortem = Postmortem.objects.select_for_update().filter(incident=incident).first()
        if postmortem is None:
            raise ValidationError("Write the postmortem before publishing it.")
        if postmortem.is_published:
            raise ValidationError("This postmortem is already published.")
        if incident.status not in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
            raise ValidationError("Resolve the incident before publishing its postmortem.")
        empty = [
            str(Postmortem._meta.get_field(f).verbose_name)
            for f in Postmortem.REQUIRED_TO_PUBLISH
            if not getattr(postmortem, f).strip()
        ]
        if empty:
            raise ValidationError(f"Before publishing, write: {', '.join(empty)}.")
        postmortem.status = PostmortemStatus.PUBLISHED
        postmortem.published_at = timezone.now()
        postmortem.published_by = actor
        postmortem.save()
        late = postmortem.published_at > incident.postmortem_due_at if incident.postmortem_due_at else False
        _timeline_add(
            incident=incident,
            kind=TimelineKind.POSTMORTEM,
            note=f"Postmortem published by {_who(actor)}" + (" (after its due date)." if late else "."),
            actor=actor,
        )
    return postmortem


def action_item_add(*, incident_id: int, title: str, due_on: date, owner=None, actor=None) -> ActionItem:
    """Add an action item to the incident's postmortem (started if needed). An item may be
    added without an owner while the team decides, but the incident will not close then."""
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "Say what will be done."})
    if due_on is None:
        raise ValidationError({"due_on": "An action item needs a due date."})
    with transaction.atomic(), acting_as(actor):
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        postmortem, _ = Postmortem.objects.get_or_create(incident=incident, defaults={"author": actor})
        item = ActionItem.objects.create(postmortem=postmortem, title=title[:300], owner=owner, due_on=due_on)
        _timeline_add(
            incident=incident,
            kind=TimelineKind.ACTION_ITEM,
            note=f"Action item added: {item.title} "
            f"(owner {_who(owner) if owner else 'none yet'}, due {due_on:%Y-%m-%d}).",
            actor=actor,
        )
    return item


_UNSET = object()


def action_item_update(*, item_id: int, actor=None, state: str | None = None, owner=_UNSET, due_on=None) -> ActionItem:
    """Change an action item's state, owner or due date (re-planning). Done and cancelled
    stamp the completion time; moving back to open clears it. Changes are on the timeline."""
    if state is not None:
        _check_choice(state, ActionItemState, "state")
    with transaction.atomic(), acting_as(actor):
        item = ActionItem.objects.select_for_update().select_related("postmortem__incident").get(pk=item_id)
        changed = []
        if state is not None and state != item.state:
            changed.append(f"state {item.get_state_display().lower()} → {ActionItemState(state).label.lower()}")
            item.state = state
            item.completed_at = None if state in PENDING_ITEM_STATES else timezone.now()
        if owner is not _UNSET and owner != item.owner:
            changed.append(f"owner {_who(item.owner) if item.owner else 'none'} → {_who(owner) if owner else 'none'}")
            item.owner = owner
        if due_on is not None and due_on != item.due_on:
            changed.append(f"due {item.due_on:%Y-%m-%d} → {due_on:%Y-%m-%d}")
            item.due_on = due_on
        if changed:
            item.save()
            _timeline_add(
                incident=item.postmortem.incident,
                kind=TimelineKind.ACTION_ITEM,
                note=f"Action item “{item.title}”: {', '.join(changed)}.",
                actor=actor,
            )
    return item


# --- kill switch --------------------------------------------------------------------------


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why you are pulling the kill switch."})
    return reason


def kill_switch_pull(
    *, agent: Agent, actor, reason: str, failure_mode: str = FailureMode.UNCLASSIFIED
) -> tuple[Incident, bool]:
    """Stop the agent's side effects now, and record it: operators (``operate_agent``,
    globally or on this agent) only, a reason always. It opens a SEV2 incident — the
    operator who pulled becomes its commander — or links the agent's active incident.
    The controls change goes through the registry service, which bumps the revision, so
    the agent's very next ``/api/v1/controls/`` call reports side effects disabled."""
    if not user_can_operate_agent(actor, agent):
        raise PermissionDenied("Only operators may pull the kill switch.")
    reason = _require_reason(reason)
    _check_choice(failure_mode, FailureMode, "failure_mode")
    with transaction.atomic(), acting_as(actor):
        was_on = (
            Agent.objects.select_for_update(no_key=True).values_list("side_effects_enabled", flat=True).get(pk=agent.pk)
        )
        if was_on:
            agent_controls_update(agent_id=agent.pk, actor=actor, reason=reason, side_effects_enabled=False)
        incident, created = incident_open_or_link(
            agent=agent,
            severity=Severity.SEV2,
            title=f"Kill switch pulled on {agent.name}",
            failure_mode=failure_mode,
            detection_source=DetectionSource.PERSON,
            opened_by=actor,
            summary=reason,
            commander=actor,
        )
        if (
            not created
            and incident.failure_mode == FailureMode.UNCLASSIFIED
            and failure_mode != FailureMode.UNCLASSIFIED
        ):
            incident.failure_mode = failure_mode
            incident.save(update_fields=["failure_mode", "updated_at"])
        _timeline_add(
            incident=incident,
            kind=TimelineKind.KILL_SWITCH,
            note=(f"Kill switch pulled by {_who(actor)}: side effects disabled. Reason: {reason}")
            if was_on
            else f"{_who(actor)} pulled the kill switch again (side effects were already disabled). Reason: {reason}",
            actor=actor,
        )
    agent.refresh_from_db()
    return incident, created


def global_kill_switch_pull(*, actor, reason: str) -> tuple[Incident, bool]:
    """Stop side effects for the whole fleet (``registry.change_globalcontrols`` only, reason
    required), and open or link the fleet-wide SEV2 incident."""
    if not (actor.is_authenticated and actor.is_active and actor.has_perm("registry.change_globalcontrols")):
        raise PermissionDenied("Only operators may pull the fleet kill switch.")
    reason = _require_reason(reason)
    with transaction.atomic(), acting_as(actor):
        global_controls_set(side_effects_enabled=False, actor=actor, reason=reason)
        incident, created = fleet_incident_open_or_link(
            severity=Severity.SEV2,
            title="Fleet kill switch pulled",
            failure_mode=FailureMode.UNCLASSIFIED,
            detection_source=DetectionSource.PERSON,
            opened_by=actor,
            summary=reason,
        )
        _timeline_add(
            incident=incident,
            kind=TimelineKind.KILL_SWITCH,
            note=f"Fleet kill switch pulled by {_who(actor)}: side effects disabled for every agent. Reason: {reason}",
            actor=actor,
        )
    return incident, created


def side_effects_reenable_request(*, agent: Agent, requester, justification: str):
    """Ask to turn the agent's side effects back on. Never direct: it is a change request
    of kind ``reenable_side_effects`` that the approvals engine applies under the
    two-person rule, whatever the agent's tier. The request is noted on the active incident."""
    justification = (justification or "").strip()
    if not justification:
        raise ValidationError({"justification": "Say why it is safe to turn side effects back on."})
    agent.refresh_from_db(fields=["side_effects_enabled"])
    if agent.side_effects_enabled:
        raise ValidationError(f"{agent.name}'s side effects are already enabled.")
    from approvals.choices import RequestKind
    from approvals.exceptions import ApprovalError
    from approvals.services import change_request_create

    incident = Incident.objects.filter(agent=agent).order_by("-detected_at").first()
    with transaction.atomic(), acting_as(requester):
        try:
            request = change_request_create(
                agent=agent,
                kind=RequestKind.REENABLE_SIDE_EFFECTS,
                payload={"side_effects_enabled": True},
                requester=requester,
                justification=justification,
            )
        except ApprovalError as exc:
            raise ValidationError(exc.message) from None
        if incident is not None:
            _timeline_add(
                incident=incident,
                kind=TimelineKind.REENABLE,
                note=f"{_who(requester)} asked to re-enable side effects "
                f"(change request #{request.pk}): {justification}",
                actor=requester,
            )
    return request


# --- overdue work -------------------------------------------------------------------------


def overdue_reminders_send(*, now: datetime | None = None) -> int:
    """E-mail each person their overdue postmortems and action items, at most once a day.

    Who: an overdue postmortem goes to the incident commander (else the agent owner); an
    overdue action item to its owner (else the incident commander). The unique
    (recipient, day) reminder row is claimed before sending, so reruns, retries and
    concurrent workers send nothing more that day. Returns the number of e-mails sent."""
    from .selectors import overdue_action_items, overdue_postmortems

    now = now or timezone.now()
    today = timezone.localdate(now)
    work: dict[int, dict] = {}

    def _bucket(user):
        return work.setdefault(user.pk, {"user": user, "postmortems": [], "items": []})

    for incident in overdue_postmortems(now=now):
        recipient = incident.commander or (incident.agent.owner if incident.agent_id else incident.opened_by)
        if recipient is not None:
            _bucket(recipient)["postmortems"].append(incident)
    for item in overdue_action_items(today=today).select_related("postmortem__incident__commander"):
        recipient = item.owner or item.postmortem.incident.commander
        if recipient is not None:
            _bucket(recipient)["items"].append(item)

    sent = 0
    for entry in work.values():
        user = entry["user"]
        if not user.is_active or not user.email:
            continue
        try:
            with transaction.atomic():
                OverdueReminder.objects.create(
                    recipient=user,
                    day=today,
                    sent_at=now,
                    postmortems=len(entry["postmortems"]),
                    action_items=len(entry["items"]),
                )
        except IntegrityError:
            continue  # already reminded today
        context = {**entry, "base_url": settings.QUORUM_BASE_URL, "today": today}
        count = len(entry["postmortems"]) + len(entry["items"])
        send_mail(
            subject=f"[Quorum] {count} overdue incident follow-up{'s' if count != 1 else ''}",
            message=render_to_string("incidents/email/overdue.txt", context),
            from_email=None,
            recipient_list=[user.email],
        )
        sent += 1
    logger.info("overdue incident reminders sent: %s", sent)
    return sent


# --- retention ------------------------------------------------------------------------------------


def incidents_purge_closed_before(
    *, before: datetime, exclude_agent_ids: Collection[int] = (), keep_fleet_wide: bool = False, batch: int = 200
) -> int:
    """Delete one batch of incidents closed before ``before`` with their timeline, linked runs,
    postmortem and action items (0: nothing is due). Never an open one, never one of an agent in
    ``exclude_agent_ids`` (legal hold), nor a fleet-wide one while ``keep_fleet_wide`` (any hold
    active: a fleet incident concerns every agent). One short transaction per batch; the purge is
    recorded once by the caller, not per row in the model log."""
    due = Incident.objects.filter(status=IncidentStatus.CLOSED, closed_at__lt=before)
    if exclude_agent_ids:
        due = due.exclude(agent_id__in=list(exclude_agent_ids))
    if keep_fleet_wide:
        due = due.exclude(fleet_wide=True)
    ids = list(due.order_by("pk").values_list("pk", flat=True)[:batch])
    if not ids:
        return 0
    with transaction.atomic(), disable_auditlog():
        Incident.objects.filter(pk__in=ids).delete()
    return len(ids)


def active_incident_expression(agent_id: int):
    """Whether the agent has an open or mitigated incident: the action gate's
    ``context.active_incident``, one subquery of its context query."""
    return Exists(Incident.objects.filter(agent_id=agent_id, status__in=ACTIVE_STATUSES))


def hard_cap_incident_open(agent: Agent, reason: str) -> None:
    """A hard budget cap pulled the agent's kill switch (``registry/budgets.py``): open a SEV2
    cost-anomaly incident, or link the active one, with the reason on its timeline."""
    incident, _created = incident_open_or_link(
        agent=agent,
        severity=Severity.SEV2,
        title=f"Hard budget cap reached on {agent.name}: kill switch pulled"[:200],
        failure_mode=FailureMode.COST_ANOMALY,
        detection_source=DetectionSource.MONITORING,
        summary=reason,
    )
    _timeline_add(
        incident=incident, kind=TimelineKind.KILL_SWITCH, note=f"Kill switch pulled automatically: {reason}", actor=None
    )
