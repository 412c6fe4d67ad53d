"""The evidence freeze before an automatic canary rollback by a rollout plan (helper 3's beat
step announces it): ordering checked on the audit chain."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.models import EvidenceFreeze, SeriousKind
from compliance.serious import serious_classify
from incidents.services import incident_open_or_link
from registry.models import AuditEntry
from rollouts.choices import PlanStatus
from rollouts.services import plan_tick
from tests.rollouts.conftest import _no_foreign_gates, approvers, make_runs, versions  # noqa: F401 - fixtures
from tests.rollouts.test_plans import _approved_plan

pytestmark = pytest.mark.django_db


def test_the_evidence_is_frozen_before_a_rollout_rolls_the_canary_back(
    agent,
    versions,  # noqa: F811 - the rollouts fixture imported above
    owner_user,
    approvers,  # noqa: F811 - the rollouts fixture imported above
    operator_user,
):
    _prev, stable, canary = versions
    plan = _approved_plan(agent, owner_user, approvers, on_failure="rollback", p95_slo_ms=5000)
    incident, _ = incident_open_or_link(
        agent=agent,
        severity="sev2",
        title="Wrong answers to a vulnerable customer",
        failure_mode="quality_regression",
        detection_source="person",
        opened_by=operator_user,
        commander=operator_user,
    )
    serious_classify(
        incident_id=incident.pk,
        kind=SeriousKind.OTHER,
        aware_at=timezone.now() - timedelta(minutes=5),
        rationale="Harm to a person's health suspected.",
        actor=operator_user,
    )
    start = plan.stage_started_at + timedelta(minutes=1)
    make_runs(agent, stable, n=200, ok=180, start=start)
    make_runs(agent, canary, n=60, ok=54, start=start, latency_ms=9000)

    plan_tick(plan_id=plan.pk, now=plan.stage_started_at + timedelta(hours=2))

    plan.refresh_from_db()
    assert plan.status == PlanStatus.ROLLED_BACK
    freeze = EvidenceFreeze.objects.get(agent=agent)
    assert freeze.change_kind == "canary_rollback"
    # Frozen as it was: the canary still at its share when the snapshot was taken.
    assert freeze.snapshot["controls"]["canary_version"]["label"] == canary.label
    frozen = AuditEntry.objects.get(action="compliance.evidence_freeze")
    rolled_back = AuditEntry.objects.get(action="rollout.rollback")
    assert frozen.seq == freeze.audit_seq < rolled_back.seq
