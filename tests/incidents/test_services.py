"""Incident rules: opening and linking, transitions, required fields by severity, closing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from incidents import services
from incidents.choices import DetectionSource, FailureMode, IncidentStatus, Severity, TimelineKind
from incidents.models import Incident, Postmortem
from registry.models import Review
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def _resolve(incident, actor, commander=None):
    if incident.commander_id is None and incident.severity != Severity.SEV3:
        services.incident_update(incident_id=incident.pk, actor=actor, commander=commander or actor)
    return services.incident_transition(incident_id=incident.pk, to_status="resolved", note="fixed", actor=actor)


# --- opening and linking -------------------------------------------------------------------


def test_it_opens_an_incident_with_the_deployed_version_and_a_timeline(agent, deployed_version, operator_user):
    incident, created = services.incident_open_or_link(
        agent=agent,
        severity="sev2",
        title="Stuck in a loop",
        failure_mode="stuck_loop",
        detection_source="drift_check",
        summary="Containment fell 14 points in 30 minutes.",
    )
    assert created
    assert incident.status == IncidentStatus.OPEN and incident.version == deployed_version
    entry = incident.timeline.get(kind=TimelineKind.OPENED)
    assert "drift check" in entry.note and "Containment fell" in entry.note


def test_it_links_a_second_report_to_the_active_incident(agent, open_incident, operator_user):
    first = open_incident(severity="sev3")
    second, created = services.incident_open_or_link(
        agent=agent, severity="sev3", title="More errors", failure_mode="tool_outage", detection_source="eval"
    )
    assert not created and second.pk == first.pk
    assert Incident.objects.filter(agent=agent).count() == 1
    assert first.timeline.filter(kind=TimelineKind.LINKED, note__contains="More errors").exists()


def test_a_worse_linked_report_raises_the_severity_and_schedules_a_review(agent, open_incident):
    first = open_incident(severity="sev3")
    assert not Review.objects.filter(agent=agent).exists()
    incident, _ = services.incident_open_or_link(
        agent=agent,
        severity="sev1",
        title="Customers double charged",
        failure_mode="policy_violation",
        detection_source="monitoring",
    )
    incident.refresh_from_db()
    assert incident.pk == first.pk and incident.severity == Severity.SEV1
    assert Review.objects.filter(agent=agent, kind="ad_hoc_incident").count() == 1


def test_a_better_linked_report_never_lowers_the_severity(agent, open_incident):
    first = open_incident(severity="sev1", customer_impact="x", detection_source="monitoring")
    services.incident_open_or_link(
        agent=agent, severity="sev3", title="minor", failure_mode="tool_outage", detection_source="eval"
    )
    first.refresh_from_db()
    assert first.severity == Severity.SEV1


def test_a_resolved_incident_does_not_absorb_new_reports(agent, open_incident, operator_user):
    first = open_incident(severity="sev3")
    _resolve(first, operator_user)
    second, created = services.incident_open_or_link(
        agent=agent, severity="sev3", title="Again", failure_mode="tool_outage", detection_source="eval"
    )
    assert created and second.pk != first.pk


def test_the_database_refuses_two_active_incidents_on_one_agent(agent, open_incident):
    first = open_incident()
    with pytest.raises(IntegrityError):
        Incident.objects.create(
            agent=agent, severity="sev3", title="dup", detection_source="person", failure_mode=first.failure_mode
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [("severity", "sev4"), ("failure_mode", "gremlins"), ("detection_source", "psychic"), ("title", "  ")],
)
def test_it_refuses_bad_report_values_and_creates_nothing(agent, field, value):
    kwargs = {"severity": "sev2", "title": "t", "failure_mode": "stuck_loop", "detection_source": "eval"}
    kwargs[field] = value
    with pytest.raises(ValidationError) as err:
        services.incident_open_or_link(agent=agent, **kwargs)
    assert field in err.value.message_dict
    assert Incident.objects.count() == 0


def test_a_person_declaring_a_sev1_must_state_the_customer_impact(agent):
    with pytest.raises(ValidationError) as err:
        services.incident_open_or_link(
            agent=agent, severity="sev1", title="t", failure_mode="security", detection_source="person"
        )
    assert "customer_impact" in err.value.message_dict
    incident, _ = services.incident_open_or_link(
        agent=agent,
        severity="sev1",
        title="t",
        failure_mode="security",
        detection_source="person",
        customer_impact="120 customers saw other customers' orders",
    )
    assert incident.customer_impact.startswith("120")


@pytest.mark.parametrize(("severity", "days"), [("sev1", 7), ("sev2", 14)])
def test_a_major_incident_schedules_one_ad_hoc_review(agent, open_incident, severity, days):
    incident = open_incident(severity=severity, customer_impact="some")
    review = Review.objects.get(agent=agent, kind="ad_hoc_incident")
    assert review.due_on == timezone.localdate() + timedelta(days=days)
    assert incident.reference in review.reason and incident.review == review


def test_a_sev3_schedules_no_review(agent, open_incident):
    open_incident(severity="sev3")
    assert not Review.objects.filter(agent=agent).exists()


def test_an_open_ad_hoc_review_covers_a_later_incident(agent, open_incident, operator_user):
    first = open_incident(severity="sev2")
    services.incident_update(incident_id=first.pk, actor=operator_user, commander=operator_user)
    _resolve(first, operator_user)
    second = open_incident(severity="sev2", title="second")
    assert Review.objects.filter(agent=agent, kind="ad_hoc_incident").count() == 1
    assert second.review == first.review


# --- transitions ------------------------------------------------------------------------------

ALLOWED = [
    ("open", "mitigated"),
    ("open", "resolved"),
    ("mitigated", "resolved"),
    ("mitigated", "open"),
    ("resolved", "closed"),
    ("resolved", "open"),
]
REFUSED = [
    ("open", "closed"),
    ("open", "open"),
    ("mitigated", "closed"),
    ("mitigated", "mitigated"),
    ("resolved", "mitigated"),
    ("closed", "open"),
    ("closed", "resolved"),
    ("closed", "mitigated"),
]


def _bring_to(incident, status, actor):
    path = {"open": [], "mitigated": ["mitigated"], "resolved": ["resolved"], "closed": ["resolved", "closed"]}
    for step in path[status]:
        services.incident_transition(incident_id=incident.pk, to_status=step, note=f"to {step}", actor=actor)
    incident.refresh_from_db()
    return incident


@pytest.mark.parametrize(("start", "target"), ALLOWED)
def test_it_allows_the_defined_transitions_with_a_note_on_the_timeline(open_incident, operator_user, start, target):
    incident = _bring_to(open_incident(severity="sev3"), start, operator_user)
    moved = services.incident_transition(incident_id=incident.pk, to_status=target, note="because", actor=operator_user)
    assert moved.status == target
    entry = moved.timeline.filter(kind=TimelineKind.STATUS).last()
    assert (entry.from_status, entry.to_status, entry.note, entry.actor) == (start, target, "because", operator_user)
    log = LogEntry.objects.get_for_object(moved).filter(action=LogEntry.Action.UPDATE).first()
    assert log is not None and "status" in log.changes_dict


@pytest.mark.parametrize(("start", "target"), REFUSED)
def test_it_refuses_other_transitions_and_changes_nothing(open_incident, operator_user, start, target):
    incident = _bring_to(open_incident(severity="sev3"), start, operator_user)
    entries = incident.timeline.count()
    with pytest.raises(ValidationError) as err:
        services.incident_transition(incident_id=incident.pk, to_status=target, note="try", actor=operator_user)
    assert "cannot become" in str(err.value)
    incident.refresh_from_db()
    assert incident.status == start and incident.timeline.count() == entries


def test_a_transition_needs_a_note(open_incident, operator_user):
    incident = open_incident(severity="sev3")
    with pytest.raises(ValidationError) as err:
        services.incident_transition(incident_id=incident.pk, to_status="mitigated", note="  ", actor=operator_user)
    assert "note" in err.value.message_dict
    incident.refresh_from_db()
    assert incident.status == "open" and incident.mitigated_at is None


def test_it_stamps_times_so_mitigate_and_resolve_durations_follow(open_incident, operator_user):
    incident = open_incident(severity="sev3")
    Incident.objects.filter(pk=incident.pk).update(detected_at=timezone.now() - timedelta(hours=3))
    services.incident_transition(incident_id=incident.pk, to_status="mitigated", note="m", actor=operator_user)
    incident = services.incident_transition(
        incident_id=incident.pk, to_status="resolved", note="r", actor=operator_user
    )
    assert incident.mitigated_at <= incident.resolved_at
    assert timedelta(hours=3) <= incident.time_to_mitigate < timedelta(hours=3, minutes=1)
    assert incident.time_to_resolve >= incident.time_to_mitigate


def test_reopening_clears_the_resolution_time(open_incident, operator_user):
    incident = _bring_to(open_incident(severity="sev3"), "resolved", operator_user)
    incident = services.incident_transition(incident_id=incident.pk, to_status="open", note="it came back")
    assert incident.resolved_at is None and incident.status == "open"


def test_reopening_is_refused_while_a_newer_incident_is_active(agent, open_incident, operator_user):
    old = _bring_to(open_incident(severity="sev3"), "resolved", operator_user)
    open_incident(severity="sev3", title="newer")
    with pytest.raises(ValidationError) as err:
        services.incident_transition(incident_id=old.pk, to_status="open", note="back")
    assert "another active incident" in str(err.value)
    old.refresh_from_db()
    assert old.status == "resolved"


# --- required fields by severity ----------------------------------------------------------------


@pytest.mark.parametrize("severity", ["sev1", "sev2"])
def test_a_major_incident_needs_a_commander_to_be_mitigated(open_incident, operator_user, severity):
    incident = open_incident(severity=severity, customer_impact="x")
    with pytest.raises(ValidationError) as err:
        services.incident_transition(incident_id=incident.pk, to_status="mitigated", note="m", actor=operator_user)
    assert "incident commander" in str(err.value)
    services.incident_update(incident_id=incident.pk, commander=operator_user, actor=operator_user)
    assert services.incident_transition(incident_id=incident.pk, to_status="mitigated", note="m").status == "mitigated"


def test_a_sev3_needs_no_commander(open_incident):
    incident = open_incident(severity="sev3")
    assert services.incident_transition(incident_id=incident.pk, to_status="mitigated", note="m").status == "mitigated"


def test_an_unclassified_incident_cannot_be_resolved(open_incident):
    incident = open_incident(severity="sev3", failure_mode=FailureMode.UNCLASSIFIED)
    with pytest.raises(ValidationError) as err:
        services.incident_transition(incident_id=incident.pk, to_status="resolved", note="r")
    assert "failure mode" in str(err.value)


def test_a_sev1_needs_customer_and_financial_impact_to_be_resolved(open_incident, operator_user):
    incident = open_incident(
        severity="sev1", detection_source=DetectionSource.MONITORING, commander=operator_user, customer_impact=""
    )
    with pytest.raises(ValidationError) as err:
        services.incident_transition(incident_id=incident.pk, to_status="resolved", note="r")
    assert "customer impact" in str(err.value) and "financial impact" in str(err.value)
    services.incident_update(
        incident_id=incident.pk, customer_impact="40 refunds", financial_impact_usd=Decimal("0"), actor=operator_user
    )
    assert services.incident_transition(incident_id=incident.pk, to_status="resolved", note="r").status == "resolved"


# --- closing and the postmortem -----------------------------------------------------------------


@pytest.fixture
def resolved_sev2(open_incident, operator_user):
    incident = open_incident(severity="sev2", commander=operator_user)
    return services.incident_transition(incident_id=incident.pk, to_status="resolved", note="r", actor=operator_user)


def _write_postmortem(incident, actor):
    return services.postmortem_save(
        incident_id=incident.pk, actor=actor, summary="s", impact="i", root_cause="rc", went_well="paging"
    )


def test_resolving_a_major_incident_starts_its_postmortem_due_72_hours_later(resolved_sev2):
    postmortem = Postmortem.objects.get(incident=resolved_sev2)
    assert postmortem.status == "draft"
    assert resolved_sev2.postmortem_due_at == resolved_sev2.resolved_at + timedelta(hours=72)


def test_a_sev3_has_no_postmortem_due(open_incident, operator_user):
    incident = _bring_to(open_incident(severity="sev3"), "resolved", operator_user)
    assert incident.postmortem_due_at is None and not Postmortem.objects.filter(incident=incident).exists()


def test_close_is_refused_while_the_postmortem_is_missing(resolved_sev2, operator_user):
    Postmortem.objects.filter(incident=resolved_sev2).delete()
    with pytest.raises(ValidationError) as err:
        services.incident_transition(incident_id=resolved_sev2.pk, to_status="closed", note="c", actor=operator_user)
    assert "a postmortem" in str(err.value)
    resolved_sev2.refresh_from_db()
    assert resolved_sev2.status == "resolved" and resolved_sev2.closed_at is None


def test_close_is_refused_while_the_postmortem_is_unpublished(resolved_sev2, operator_user):
    _write_postmortem(resolved_sev2, operator_user)
    with pytest.raises(ValidationError) as err:
        services.incident_transition(incident_id=resolved_sev2.pk, to_status="closed", note="c", actor=operator_user)
    assert "published" in str(err.value)


def test_close_is_refused_while_an_action_item_has_no_owner(resolved_sev2, operator_user):
    _write_postmortem(resolved_sev2, operator_user)
    item = services.action_item_add(
        incident_id=resolved_sev2.pk, title="Add idempotency key", due_on=timezone.localdate() + timedelta(days=7)
    )
    services.postmortem_publish(incident_id=resolved_sev2.pk, actor=operator_user)
    with pytest.raises(ValidationError) as err:
        services.incident_transition(incident_id=resolved_sev2.pk, to_status="closed", note="c", actor=operator_user)
    assert "owner" in str(err.value)
    services.action_item_update(item_id=item.pk, owner=operator_user, actor=operator_user)
    closed = services.incident_transition(incident_id=resolved_sev2.pk, to_status="closed", note="c")
    assert closed.status == "closed" and closed.closed_at is not None


def test_a_sev3_closes_without_a_postmortem(open_incident, operator_user):
    incident = _bring_to(open_incident(severity="sev3"), "closed", operator_user)
    assert incident.status == "closed"


def test_publishing_needs_summary_impact_and_root_cause(resolved_sev2, operator_user):
    services.postmortem_save(incident_id=resolved_sev2.pk, actor=operator_user, summary="only a summary")
    with pytest.raises(ValidationError) as err:
        services.postmortem_publish(incident_id=resolved_sev2.pk, actor=operator_user)
    assert "impact" in str(err.value) and "root cause" in str(err.value)
    assert Postmortem.objects.get(incident=resolved_sev2).status == "draft"


def test_publishing_needs_a_resolved_incident(open_incident, operator_user):
    incident = open_incident(severity="sev2", commander=operator_user)
    _write_postmortem(incident, operator_user)
    with pytest.raises(ValidationError, match="Resolve the incident"):
        services.postmortem_publish(incident_id=incident.pk, actor=operator_user)


def test_a_published_postmortem_no_longer_changes(resolved_sev2, operator_user):
    _write_postmortem(resolved_sev2, operator_user)
    services.postmortem_publish(incident_id=resolved_sev2.pk, actor=operator_user)
    with pytest.raises(ValidationError, match="published"):
        services.postmortem_save(incident_id=resolved_sev2.pk, actor=operator_user, summary="rewritten")
    assert Postmortem.objects.get(incident=resolved_sev2).summary == "s"


def test_a_closed_incident_no_longer_changes(open_incident, operator_user):
    incident = _bring_to(open_incident(severity="sev3"), "closed", operator_user)
    with pytest.raises(ValidationError, match="closed"):
        services.incident_update(incident_id=incident.pk, title="rewritten", actor=operator_user)


def test_action_items_record_completion_and_replanning(resolved_sev2, operator_user):
    item = services.action_item_add(
        incident_id=resolved_sev2.pk, title="t", due_on=timezone.localdate(), owner=operator_user
    )
    item = services.action_item_update(item_id=item.pk, state="done", actor=operator_user)
    assert item.completed_at is not None
    item = services.action_item_update(item_id=item.pk, state="open", due_on=timezone.localdate() + timedelta(days=3))
    assert item.completed_at is None
    assert resolved_sev2.timeline.filter(kind=TimelineKind.ACTION_ITEM).count() == 3


def test_incident_edits_are_on_the_timeline_and_in_the_audit_log(open_incident, operator_user):
    incident = open_incident(severity="sev3")
    services.incident_update(incident_id=incident.pk, actor=operator_user, financial_impact_usd=Decimal("1250.00"))
    assert incident.timeline.filter(note__contains="1250.00").exists()
    assert LogEntry.objects.get_for_object(incident).filter(actor=operator_user).exists()


def test_linked_runs_are_deduplicated(open_incident, operator_user):
    incident = open_incident(severity="sev3", run_ids=["r1", "r2"])
    added = services.incident_link_runs(incident_id=incident.pk, run_ids=["r2", "r3", " ", "r3"], actor=operator_user)
    assert added == ["r3"]
    assert list(incident.linked_runs.values_list("run_id", flat=True)) == ["r1", "r2", "r3"]


def test_another_agents_version_cannot_be_attached(open_incident, operator_user):
    from tests.factories import AgentVersionFactory

    incident = open_incident(severity="sev3")
    foreign = AgentVersionFactory(agent=AgentFactory())
    with pytest.raises(ValidationError, match="another agent"):
        services.incident_update(incident_id=incident.pk, version=foreign, actor=operator_user)
