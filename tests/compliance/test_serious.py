"""Serious-incident clock (EU AI Act Art. 73): classification, clocks per kind, drafted reports,
escalation, and the evidence freeze before an automatic change (ordering on the audit chain)."""

import json
import random
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from compliance import serious as services
from compliance.models import EvidenceFreeze, SeriousIncident, SeriousKind, SeriousReport
from incidents.models import Incident
from incidents.services import incident_link_runs, incident_open_or_link
from registry.audit_chain import chain_append  # noqa: F401 - the chain the ordering is read from
from registry.canonical import canonical_sha256
from registry.extensions import automatic_change_announce
from registry.models import AuditEntry
from telemetry.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(agent, operator_user):
    incident, _ = incident_open_or_link(
        agent=agent,
        severity="sev1",
        title="Refunds to the wrong customers",
        failure_mode="policy_violation",
        detection_source="person",
        opened_by=operator_user,
        commander=operator_user,
        summary="Refunds went to other customers' cards.",
        customer_impact="40 customers refunded to the wrong card.",
    )
    return incident


def _run(agent, run_id, minutes_ago=5, **extra):
    started = timezone.now() - timedelta(minutes=minutes_ago)
    return Run.objects.create(
        agent=agent,
        run_id=run_id,
        started_at=started,
        ended_at=started + timedelta(seconds=2),
        outcome="resolved",
        **extra,
    )


@pytest.mark.parametrize(
    ("kind", "days"), [(SeriousKind.WIDESPREAD, 2), (SeriousKind.DEATH, 10), (SeriousKind.OTHER, 15)]
)
def test_the_clock_of_each_kind_runs_from_awareness_and_shows_on_the_incident_and_home_page(
    client, incident, operator_user, kind, days
):
    aware = timezone.now() - timedelta(hours=6)
    serious = services.serious_classify(
        incident_id=incident.pk, kind=kind, aware_at=aware, rationale="A person was harmed.", actor=operator_user
    )
    assert serious.due_at == aware + timedelta(days=days)
    clock = services.serious_clock(serious)
    assert clock.days == days and not clock.overdue and clock.reported_at is None
    client.force_login(operator_user)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert 'data-testid="incident-serious"' in page and serious.due_at.strftime("%Y-%m-%d %H:%M") in page
    home = client.get("/").content.decode()
    assert 'data-testid="home-serious"' in home and incident.reference in home
    detail = client.get(f"/compliance/serious/{incident.pk}/")
    assert detail.status_code == 200 and f"({days} days)" in detail.content.decode()
    assert "Classified as a serious incident" in incident.timeline.last().note


def test_bad_classifications_are_refused_and_change_nothing(client, incident, operator_user, executive_user):
    client.force_login(operator_user)
    url = f"/compliance/serious/{incident.pk}/classify/"
    future = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    for data in (
        {"kind": "nonsense", "aware_at": "2026-01-01T10:00", "rationale": "x"},
        {"kind": "death", "aware_at": "not a date", "rationale": "x"},
        {"kind": "death", "aware_at": "2026-01-01T10:00", "rationale": ""},
        {"kind": "death", "aware_at": future, "rationale": "x"},
        {},
    ):
        response = client.post(url, data)
        assert response.status_code == 400, data
    assert not SeriousIncident.objects.exists()
    client.force_login(executive_user)
    ok = {"kind": "death", "aware_at": "2026-01-01T10:00", "rationale": "x"}
    assert client.post(url, ok).status_code == 403
    assert not SeriousIncident.objects.exists()
    client.force_login(operator_user)
    assert client.post(url, ok).status_code == 302
    assert client.post(url, ok).status_code == 400  # once per incident
    assert SeriousIncident.objects.count() == 1


def test_reports_are_drafted_from_incident_timeline_and_linked_runs_exported_and_frozen_when_submitted(
    client, incident, operator_user, agent
):
    _run(agent, "run-harm-1", status="error")
    incident_link_runs(incident_id=incident.pk, run_ids=["run-harm-1", "run-never-reported"], actor=operator_user)
    serious = services.serious_classify(
        incident_id=incident.pk,
        kind=SeriousKind.OTHER,
        aware_at=timezone.now() - timedelta(days=1),
        rationale="Customers' property harmed.",
        actor=operator_user,
    )
    draft = services.report_draft(serious, stage="initial")
    assert draft["incident"]["reference"] == incident.reference and draft["serious_incident"]["deadline_days"] == 15
    assert [r["run_id"] for r in draft["linked_runs"]] == ["run-harm-1", "run-never-reported"]
    assert draft["linked_runs"][0]["recorded"] and not draft["linked_runs"][1]["recorded"]
    assert any("Classified as a serious incident" in t["note"] for t in draft["timeline"])

    client.force_login(operator_user)
    text = client.get(f"/compliance/serious/{incident.pk}/reports/initial.txt")
    assert text.status_code == 200 and "run-harm-1" in text.content.decode() and "Article 73" in text.content.decode()
    as_json = client.get(f"/compliance/serious/{incident.pk}/reports/complete.json")
    assert as_json.status_code == 200 and json.loads(as_json.content)["report"] == "Complete report"
    assert client.get(f"/compliance/serious/{incident.pk}/reports/bogus.json").status_code == 404
    assert client.get(f"/compliance/serious/{incident.pk}/reports/initial.exe").status_code == 404

    assert client.post(f"/compliance/serious/{incident.pk}/reports/initial/submit/").status_code == 302
    report = SeriousReport.objects.get(serious=serious, stage="initial")
    assert report.content_sha256 == canonical_sha256(report.content)
    entry = AuditEntry.objects.get(action="compliance.serious_report")
    assert entry.payload["sha256"] == report.content_sha256
    assert services.serious_clock(serious).reported_at == report.submitted_at
    assert client.post(f"/compliance/serious/{incident.pk}/reports/initial/submit/").status_code == 400
    assert client.post(f"/compliance/serious/{incident.pk}/reports/nonsense/submit/").status_code == 400
    assert client.post(f"/compliance/serious/{incident.pk}/reports/complete/submit/").status_code == 302
    assert SeriousReport.objects.filter(serious=serious).count() == 2


def test_an_overdue_report_escalates_once_through_notify(
    incident, operator_user, board_user, django_capture_on_commit_callbacks
):
    from config.celery import app

    serious = services.serious_classify(
        incident_id=incident.pk,
        kind=SeriousKind.WIDESPREAD,
        aware_at=timezone.now() - timedelta(days=2, hours=1),
        rationale="Payments infrastructure disrupted.",
        actor=operator_user,
    )
    assert services.serious_clock(serious).overdue
    previous, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert services.serious_overdue_escalate() == 1
        with django_capture_on_commit_callbacks(execute=True):
            assert services.serious_overdue_escalate() == 0
    finally:
        app.conf.task_always_eager = previous
    # One alert, delivered once to each person (the second pass sent nothing).
    assert mail.outbox and all("Overdue" in m.subject for m in mail.outbox)
    sent_to = [address for m in mail.outbox for address in m.to]
    assert board_user.email in sent_to and operator_user.email in sent_to and len(sent_to) == len(set(sent_to))


def test_no_freeze_for_an_agent_without_a_serious_incident(agent, incident):
    automatic_change_announce(agent=agent, kind="kill_switch", reason="test")
    assert not EvidenceFreeze.objects.exists()


def test_the_evidence_is_frozen_before_a_drift_check_pulls_the_kill_switch(agent, incident, operator_user):
    """Art. 73(6): the freeze's chain entry comes before the kill switch's, in one transaction."""
    from evals import services as evals_services
    from evals.choices import DriftAction
    from registry.models import AgentVersion
    from tests.evals.test_drift import NOW, make_runs
    from tests.factories import AgentVersionFactory

    version = AgentVersionFactory(agent=agent, label="3.0")
    AgentVersion.objects.filter(pk=version.pk).update(state="deployed")
    agent.success_threshold_pct = 80
    agent.save()
    make_runs(agent, NOW - timedelta(minutes=30 + 24 * 60), 24 * 60, 4800, random.Random(7))
    policy = evals_services.driftpolicy_for(agent)
    policy.action = DriftAction.KILL_SWITCH
    policy.save()
    serious = services.serious_classify(
        incident_id=incident.pk,
        kind=SeriousKind.OTHER,
        aware_at=timezone.now() - timedelta(hours=1),
        rationale="Harm to customers.",
        actor=operator_user,
    )
    make_runs(agent, NOW - timedelta(minutes=30), 30, 300, random.Random(11), resolved=0.70, escalated=0.25)

    evals_services.drift_check_agent(agent_id=agent.pk, now=NOW)

    agent.refresh_from_db()
    assert agent.side_effects_enabled is False
    freeze = EvidenceFreeze.objects.get(agent=agent)
    assert freeze.serious == serious and freeze.change_kind == "kill_switch"
    pull = AuditEntry.objects.get(action="killswitch.pull", agent=agent)
    frozen = AuditEntry.objects.get(action="compliance.evidence_freeze")
    assert frozen.seq == freeze.audit_seq and frozen.seq < pull.seq
    assert frozen.payload["sha256"] == freeze.snapshot_sha256 == canonical_sha256(freeze.snapshot)
    snapshot = freeze.snapshot
    # Frozen as it was before the change: side effects still on, the deployed version, the last runs.
    assert snapshot["controls"]["side_effects_enabled"] is True
    assert snapshot["version"]["label"] == "3.0" and snapshot["version"]["bundle_digest"] == version.bundle_digest
    assert len(snapshot["runs"]) == services.FREEZE_RUNS
    latest = Run.objects.filter(agent=agent).order_by("-started_at").first()
    assert snapshot["runs"][0]["run_id"] == latest.run_id
    assert Incident.objects.get(pk=incident.pk).serious.freezes.count() == 1
