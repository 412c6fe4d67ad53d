"""Incident reads: what a user may see, timelines, replay, metrics, overdue work, costs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from registry.selectors import agents_visible_to

from .choices import ACTIVE_STATUSES, MAJOR_SEVERITIES, PENDING_ITEM_STATES, IncidentStatus, PostmortemStatus
from .models import ActionItem, Incident, IncidentRun, TimelineEntry


def incidents_visible_to(user) -> QuerySet[Incident]:
    """Incidents of the agents the user may see, plus fleet-wide ones, for users who may
    read incidents at all (every built-in role: executives and auditors read everything)."""
    base = Incident.objects.select_related("agent", "commander", "version")
    if not (user.is_authenticated and user.is_active and user.has_perm("incidents.view_incident")):
        return base.none()
    if user.has_perm("registry.view_agent"):
        return base
    return base.filter(Q(fleet_wide=True) | Q(agent__in=agents_visible_to(user)))


def incident_timeline(incident: Incident) -> QuerySet[TimelineEntry]:
    return incident.timeline.select_related("actor").order_by("at", "pk")


@dataclass(frozen=True)
class ReplayRow:
    link: IncidentRun
    run: object | None  # telemetry.models.Run as recorded, or None if never reported
    trace: list = ()  # telemetry.selectors.TraceRow: the run's whole OpenTelemetry trace, if kept


def incident_replay(incident: Incident) -> list[ReplayRow]:
    """Every linked run as the agent reported it (matched by agent and run id), in the
    order they were linked, with its whole trace when its spans were kept (OTLP ingest); ids
    with no recorded run are kept and shown as such."""
    from telemetry.models import Run
    from telemetry.selectors import run_trace

    links = list(incident.linked_runs.all())
    runs = {}
    if links and incident.agent_id:
        runs = {
            r.run_id: r
            for r in Run.objects.filter(agent_id=incident.agent_id, run_id__in=[link.run_id for link in links])
            .select_related("version", "agent")
            .order_by()
        }
    return [ReplayRow(link=link, run=runs.get(link.run_id), trace=run_trace(runs.get(link.run_id))) for link in links]


def overdue_action_items(agent=None, *, today: date | None = None) -> QuerySet[ActionItem]:
    """Postmortem action items still open or in progress past their due date (optionally for
    one agent), oldest first. These block go-live and new-version requests for the agent."""
    today = today or timezone.localdate()
    qs = ActionItem.objects.filter(state__in=PENDING_ITEM_STATES, due_on__lt=today).select_related(
        "owner", "postmortem__incident__agent"
    )
    if agent is not None:
        qs = qs.filter(postmortem__incident__agent=agent)
    return qs.order_by("due_on", "pk")


def overdue_postmortems(*, now: datetime | None = None) -> QuerySet[Incident]:
    """SEV1/SEV2 incidents resolved more than 72 hours ago whose postmortem is missing or
    still a draft."""
    from .models import POSTMORTEM_DUE_AFTER

    now = now or timezone.now()
    return (
        Incident.objects.filter(
            severity__in=MAJOR_SEVERITIES,
            status=IncidentStatus.RESOLVED,
            resolved_at__lt=now - POSTMORTEM_DUE_AFTER,
        )
        .filter(Q(postmortem__isnull=True) | Q(postmortem__status=PostmortemStatus.DRAFT))
        .select_related("agent__owner", "commander", "opened_by")
        .order_by("resolved_at")
    )


def active_incidents() -> QuerySet[Incident]:
    return Incident.objects.filter(status__in=ACTIVE_STATUSES).select_related("agent", "commander")


def active_incident_for(agent) -> Incident | None:
    return Incident.objects.filter(agent=agent, status__in=ACTIVE_STATUSES).select_related("commander").first()


def incident_cost_by_agent(*, start: datetime, end: datetime) -> dict[int, Decimal]:
    """Financial impact in USD per agent id of incidents detected in [start, end).
    Fleet-wide incidents belong to no agent and are not included; unknown impact counts 0."""
    rows = (
        Incident.objects.filter(agent__isnull=False, detected_at__gte=start, detected_at__lt=end)
        .values("agent_id")
        .annotate(total=Coalesce(Sum("financial_impact_usd"), Decimal("0")))
    )
    return {row["agent_id"]: row["total"] for row in rows}


@dataclass(frozen=True)
class MetricsRow:
    agent_id: int | None
    agent_name: str
    agent_slug: str
    severity: str
    count: int
    open_count: int
    mttm: timedelta | None
    mttr: timedelta | None


def incident_metrics(queryset: QuerySet[Incident]) -> list[MetricsRow]:
    """Per agent and severity: how many incidents, how many still active, mean time to
    mitigate (detection → mitigation, or → resolution when there was no separate
    mitigation) and mean time to resolve. Computed in the database."""
    ttm = ExpressionWrapper(Coalesce(F("mitigated_at"), F("resolved_at")) - F("detected_at"), DurationField())
    ttr = ExpressionWrapper(F("resolved_at") - F("detected_at"), DurationField())
    rows = (
        queryset.order_by()
        .values("agent_id", "agent__name", "agent__slug", "severity")
        .annotate(
            count=Count("pk"),
            open_count=Count("pk", filter=Q(status__in=ACTIVE_STATUSES)),
            mttm=Avg(ttm),
            mttr=Avg(ttr),
        )
        .order_by("agent__name", "severity")
    )
    return [
        MetricsRow(
            agent_id=r["agent_id"],
            agent_name=r["agent__name"] or "Whole fleet",
            agent_slug=r["agent__slug"] or "",
            severity=r["severity"],
            count=r["count"],
            open_count=r["open_count"],
            mttm=r["mttm"],
            mttr=r["mttr"],
        )
        for r in rows
    ]


def action_items_visible_to(user) -> QuerySet[ActionItem]:
    incidents = incidents_visible_to(user)
    return ActionItem.objects.filter(postmortem__incident__in=incidents).select_related(
        "owner", "postmortem__incident__agent"
    )


def incidents_of_agent_between(*, agent, start: datetime, end: datetime) -> QuerySet[Incident]:
    """The agent's incidents detected in [start, end), newest first (a review's period)."""
    return Incident.objects.filter(agent=agent, detected_at__gte=start, detected_at__lt=end).order_by("-pk")


def incidents_detected_since(*, since: datetime) -> int:
    """How many incidents were recorded since ``since`` (is an incident process in use?)."""
    return Incident.objects.filter(detected_at__gte=since).count()
