"""The serious-incident clock (EU AI Act Art. 73) and the evidence freeze (Art. 73(6)).

Rules:

* An incident is classified as *serious* with its kind, by someone who may respond to it. The
  report to the market surveillance authority is due a number of days after awareness that
  depends on the kind: a widespread infringement or a serious and irreversible disruption of
  critical infrastructure 2 days (Art. 73(3)), the death of a person 10 days (Art. 73(4)), any
  other serious incident 15 days (Art. 73(2)).
* An initial, incomplete report may come first and a complete one follow (Art. 73(5)); the clock
  stops at the first report submitted. Reports are drafted from the incident, its timeline and
  its linked runs; a submitted report is frozen with its SHA-256.
* Overdue (no report at ``due_at``) escalates once through ``registry.channels.notify``.
* Before any automatic change to an agent involved in an active serious incident, its evidence
  is frozen: the deployed version, the runtime controls, the last runs and their traces, hashed
  into the audit chain (:func:`evidence_freeze_before_change`, the guard behind
  ``registry.extensions.automatic_change_announce``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from incidents.choices import IncidentStatus
from incidents.models import Incident
from incidents.permissions import user_can_respond
from incidents.selectors import incident_replay, incident_timeline
from incidents.services import incident_add_note
from registry import roles
from registry.audit import acting_as
from registry.audit_chain import chain_append
from registry.canonical import canonical_sha256
from registry.channels import Alert, notify
from registry.extensions import AutomaticChange
from registry.models import Agent, AgentVersion
from telemetry.models import Run, Span
from telemetry.selectors import agent_controls

from .models import EvidenceFreeze, ReportStage, SeriousIncident, SeriousKind, SeriousReport

DAYS_BY_KIND = {SeriousKind.WIDESPREAD: 2, SeriousKind.DEATH: 10, SeriousKind.OTHER: 15}
FREEZE_RUNS = 50  # the last runs frozen with their summaries
FREEZE_TRACES = 10  # of which the last ones with a trace also freeze their spans
FREEZE_SPANS = 500


def due_at_for(*, kind: str, aware_at: datetime) -> datetime:
    """When the report on a serious incident of ``kind`` is due (Art. 73(2)-(4))."""
    return aware_at + timedelta(days=DAYS_BY_KIND[SeriousKind(kind)])


@dataclass(frozen=True)
class Clock:
    days: int
    due_at: datetime
    reported_at: datetime | None
    remaining: timedelta  # negative when overdue

    @property
    def overdue(self) -> bool:
        return self.reported_at is None and self.remaining < timedelta(0)

    @property
    def late(self) -> bool:
        return self.reported_at is not None and self.reported_at > self.due_at

    @property
    def remaining_text(self) -> str:
        seconds = abs(int(self.remaining.total_seconds()))
        days, hours = seconds // 86400, (seconds % 86400) // 3600
        words = f"{days} d {hours} h" if days else f"{hours} h {(seconds % 3600) // 60} min"
        return f"overdue by {words}" if self.remaining < timedelta(0) else f"{words} left"


def serious_clock(serious: SeriousIncident, *, now: datetime | None = None) -> Clock:
    now = now or timezone.now()
    first = serious.reports.order_by("submitted_at").values_list("submitted_at", flat=True).first()
    return Clock(
        days=DAYS_BY_KIND[SeriousKind(serious.kind)],
        due_at=serious.due_at,
        reported_at=first,
        remaining=serious.due_at - now,
    )


def serious_classify(*, incident_id: int, kind: str, aware_at: datetime, rationale: str, actor) -> SeriousIncident:
    """Classify the incident as serious under Art. 73: responders only, a rationale always,
    awareness not in the future. Once per incident (the one-to-one column backs it)."""
    rationale = (rationale or "").strip()
    errors = {}
    if kind not in SeriousKind.values:
        errors["kind"] = "Choose the kind of serious incident."
    if not rationale:
        errors["rationale"] = "Say why this incident is serious under Art. 73."
    if aware_at is None or aware_at > timezone.now() + timedelta(minutes=1):
        errors["aware_at"] = "Awareness cannot be in the future."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting_as(actor):
        # Two responders classifying at once: the incident row lock serializes them and the
        # second finds the classification (the one-to-one constraint is the backstop).
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        if not user_can_respond(actor, incident):
            raise PermissionDenied("Only the incident's responders may classify it.")
        if incident.agent_id is None:
            raise ValidationError("A fleet-wide incident has no single AI system to report; open one per agent.")
        if SeriousIncident.objects.filter(incident=incident).exists():
            raise ValidationError("This incident is already classified as serious.")
        try:
            serious = SeriousIncident.objects.create(
                incident=incident,
                kind=kind,
                aware_at=aware_at,
                due_at=due_at_for(kind=kind, aware_at=aware_at),
                rationale=rationale,
                classified_by=actor,
            )
        except IntegrityError:
            raise ValidationError("This incident is already classified as serious.") from None
        incident_add_note(
            incident_id=incident.pk,
            note=f"Classified as a serious incident (Art. 73): {serious.get_kind_display()}. "
            f"Report due {serious.due_at:%Y-%m-%d %H:%M} UTC. {rationale}",
            actor=actor,
        )
    return serious


def _run_row(run: Run) -> dict:
    return {
        "run_id": run.run_id,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat(),
        "status": run.status,
        "outcome": run.outcome,
        "version": run.version_label,
        "bundle_digest": run.bundle_digest,
        "trace_id": run.trace_id,
        "tool_calls": run.tool_calls,
        "cost_usd": str(run.cost_usd),
    }


def report_draft(serious: SeriousIncident, *, stage: str) -> dict:
    """The report of ``stage`` drafted from the incident, its timeline and its linked runs."""
    incident = serious.incident
    agent = incident.agent
    version = incident.version or AgentVersion.objects.filter(agent=agent, state="deployed").first()
    clock = serious_clock(serious)
    replay = incident_replay(incident)
    base = settings.QUORUM_BASE_URL.rstrip("/")
    return {
        "report": ReportStage(stage).label,
        "legal_basis": "Regulation (EU) 2024/1689, Article 73",
        "serious_incident": {
            "kind": serious.get_kind_display(),
            "aware_at": serious.aware_at.isoformat(),
            "due_at": serious.due_at.isoformat(),
            "deadline_days": clock.days,
            "rationale": serious.rationale,
        },
        "ai_system": {
            "name": agent.name,
            "slug": agent.slug,
            "risk_tier": agent.risk_tier,
            "purpose": agent.purpose,
            "version": version.label if version else None,
            "bundle_digest": version.bundle_digest if version else None,
        },
        "incident": {
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.get_severity_display(),
            "status": incident.get_status_display(),
            "detected_at": incident.detected_at.isoformat(),
            "summary": incident.summary,
            "customer_impact": incident.customer_impact,
            "failure_mode": incident.get_failure_mode_display(),
            "url": base + incident.get_absolute_url(),
        },
        "timeline": [
            {"at": t.at.isoformat(), "kind": t.get_kind_display(), "by": str(t.actor or "Quorum"), "note": t.note}
            for t in incident_timeline(incident)
        ],
        "linked_runs": [row_run for row in replay if (row_run := _replay_row(row)) is not None],
        "evidence_freezes": [
            {
                "at": f.created_at.isoformat(),
                "change": f.change_kind,
                "sha256": f.snapshot_sha256,
                "audit_seq": f.audit_seq,
            }
            for f in serious.freezes.order_by("created_at")
        ],
        "corrective_actions": _corrective_actions(incident) if stage == ReportStage.COMPLETE else [],
    }


def _replay_row(row) -> dict | None:
    if row.run is None:
        return {"run_id": row.link.run_id, "recorded": False}
    return {**_run_row(row.run), "recorded": True}


def _corrective_actions(incident: Incident) -> list[dict]:
    postmortem = getattr(incident, "postmortem", None)
    if postmortem is None:
        return []
    return [
        {"title": item.title, "state": item.get_state_display(), "due_on": item.due_on.isoformat()}
        for item in postmortem.action_items.order_by("due_on")
    ]


def report_text(draft: dict) -> str:
    """The draft as plain text (the export people paste into the authority's form)."""
    lines = [f"{draft['report']} under {draft['legal_basis']}", ""]
    for section in ("serious_incident", "ai_system", "incident"):
        lines.append(section.replace("_", " ").capitalize())
        lines += [f"  {key.replace('_', ' ')}: {value}" for key, value in draft[section].items()]
        lines.append("")
    lines.append("Timeline")
    lines += [f"  {t['at']} {t['kind']} ({t['by']}): {t['note']}" for t in draft["timeline"]]
    lines += ["", "Linked runs"]
    lines += [
        f"  {r['run_id']}: {r.get('outcome', 'not recorded')} {r.get('started_at', '')}" for r in draft["linked_runs"]
    ]
    if draft["evidence_freezes"]:
        lines += ["", "Evidence frozen before automatic changes"]
        lines += [
            f"  {f['at']} {f['change']}: sha256 {f['sha256']} (audit entry {f['audit_seq']})"
            for f in draft["evidence_freezes"]
        ]
    if draft["corrective_actions"]:
        lines += ["", "Corrective actions"]
        lines += [f"  {a['title']} ({a['state']}, due {a['due_on']})" for a in draft["corrective_actions"]]
    return "\n".join(lines) + "\n"


def serious_report_submit(*, serious_id: int, stage: str, actor) -> SeriousReport:
    """Record that the report of ``stage`` went to the authority: the draft as it is now,
    frozen with its SHA-256 on the audit chain. Once per stage; no initial report after the
    complete one."""
    if stage not in ReportStage.values:
        raise ValidationError({"stage": "Choose the initial or the complete report."})
    with transaction.atomic(), acting_as(actor):
        # Two people submitting at once: the row lock serializes them; the unique (serious,
        # stage) constraint backs it.
        serious = (
            SeriousIncident.objects.select_for_update(of=("self",)).select_related("incident__agent").get(pk=serious_id)
        )
        if not user_can_respond(actor, serious.incident):
            raise PermissionDenied("Only the incident's responders may submit its reports.")
        stages = set(serious.reports.values_list("stage", flat=True))
        if stage in stages:
            raise ValidationError(f"The {ReportStage(stage).label.lower()} was already submitted.")
        if stage == ReportStage.INITIAL and ReportStage.COMPLETE in stages:
            raise ValidationError("The complete report was already submitted; no initial report after it.")
        content = report_draft(serious, stage=stage)
        digest = canonical_sha256(content)
        report = SeriousReport.objects.create(
            serious=serious, stage=stage, content=content, content_sha256=digest, submitted_by=actor
        )
        chain_append(
            action="compliance.serious_report",
            actor=actor,
            agent=serious.incident.agent_id,
            obj=report,
            summary=f"{ReportStage(stage).label} of {serious.incident.reference} submitted (Art. 73)",
            payload={"sha256": digest, "stage": stage, "incident": serious.incident_id},
        )
    return report


def _escalation_recipients(serious: SeriousIncident) -> tuple[str, ...]:
    incident = serious.incident
    people = [incident.commander, incident.agent.owner if incident.agent else None, serious.classified_by]
    board = get_user_model().objects.filter(groups__name=roles.GOVERNANCE_BOARD, is_active=True)
    emails = {p.email for p in [*people, *board] if p is not None and p.email}
    return tuple(sorted(emails))


def serious_overdue_escalate(*, now: datetime | None = None) -> int:
    """Escalate, once each, the serious incidents with no report at their deadline."""
    now = now or timezone.now()
    escalated = 0
    overdue = SeriousIncident.objects.filter(due_at__lt=now, escalated_at__isnull=True, reports__isnull=True)
    for serious in overdue.select_related("incident__agent__owner", "incident__commander", "classified_by"):
        # Two beat runs at once: the compare-and-set lets one of them send.
        if not SeriousIncident.objects.filter(pk=serious.pk, escalated_at__isnull=True).update(escalated_at=now):
            continue
        notify(
            Alert(
                kind="serious_incident",
                dedup_key=f"serious-incident-{serious.pk}-overdue",
                title=f"Overdue: Art. 73 report on {serious.incident.reference} "
                f"was due {serious.due_at:%Y-%m-%d %H:%M} UTC",
                body=f"{serious.incident.title}\n{serious.get_kind_display()}: report within "
                f"{DAYS_BY_KIND[SeriousKind(serious.kind)]} days of awareness ({serious.aware_at:%Y-%m-%d %H:%M} UTC).",
                severity="critical",
                agent=serious.incident.agent,
                url=settings.QUORUM_BASE_URL.rstrip("/")
                + reverse("compliance:serious_detail", kwargs={"pk": serious.incident_id}),
                recipients=_escalation_recipients(serious),
            )
        )
        escalated += 1
    return escalated


def serious_active_for(agent: Agent) -> SeriousIncident | None:
    """The latest serious incident of ``agent`` whose incident is not closed."""
    return (
        SeriousIncident.objects.filter(incident__agent=agent)
        .exclude(incident__status=IncidentStatus.CLOSED)
        .order_by("-aware_at")
        .first()
    )


def _freeze_snapshot(agent: Agent, change: AutomaticChange) -> dict:
    version = AgentVersion.objects.filter(agent=agent, state="deployed").first()
    controls, _etag = agent_controls(agent_id=agent.pk)
    runs = list(Run.objects.filter(agent=agent).order_by("-started_at")[:FREEZE_RUNS])
    trace_ids = [r.trace_id for r in runs if r.trace_id][:FREEZE_TRACES]
    spans = Span.objects.filter(agent_id=agent.pk, trace_id__in=trace_ids).order_by("trace_id", "start_time")
    return {
        "agent": agent.slug,
        "change": {"kind": change.kind, "reason": change.reason},
        "frozen_at": timezone.now().isoformat(),
        "version": _version(version),
        "controls": controls,
        "runs": [_run_row(r) for r in runs],
        "spans": [
            {
                "trace_id": s.trace_id,
                "span_id": s.span_id,
                "parent_span_id": s.parent_span_id,
                "name": s.name,
                "start": s.start_time.isoformat(),
                "end": s.end_time.isoformat(),
            }
            for s in spans[:FREEZE_SPANS]
        ],
    }


def _version(version: AgentVersion | None) -> dict | None:
    if version is None:
        return None
    return {
        "label": version.label,
        "bundle_digest": version.bundle_digest,
        "model": f"{version.model_provider}/{version.model_name}",
        "prompt_hash": version.prompt_ref,
        "policy_version": version.policy_version,
        "tools": sorted(version.grants.values_list("tool__name", flat=True)),
    }


def evidence_freeze_before_change(change: AutomaticChange) -> EvidenceFreeze | None:
    """The guard behind ``automatic_change_announce``: if the agent is involved in a serious
    incident that is not closed, freeze its evidence (snapshot, SHA-256, audit chain entry)
    before the change is written, inside the caller's transaction, so the change and its
    freeze commit together or not at all (Art. 73(6))."""
    serious = serious_active_for(change.agent)
    if serious is None:
        return None
    snapshot = _freeze_snapshot(change.agent, change)
    digest = canonical_sha256(snapshot)
    with transaction.atomic():
        freeze = EvidenceFreeze.objects.create(
            agent=change.agent,
            serious=serious,
            change_kind=change.kind,
            reason=change.reason[:2000] or change.kind,
            snapshot=snapshot,
            snapshot_sha256=digest,
            audit_seq=0,
        )
        entry = chain_append(
            action="compliance.evidence_freeze",
            actor=None,
            agent=change.agent,
            obj=freeze,
            summary=f"Evidence frozen before {change.kind} ({serious.incident.reference} is a serious incident)",
            payload={"sha256": digest, "change_kind": change.kind, "serious_incident": serious.incident_id},
        )
        EvidenceFreeze.objects.filter(pk=freeze.pk).update(audit_seq=entry.seq)
        freeze.audit_seq = entry.seq
    return freeze
