"""The demo (issue 21): one agent with full evidence and one with gaps; the intake funnel has a go,
a skip and one awaiting the board."""

import io

import pytest
from django.core.management import call_command

from compliance.assessments import assessment_current, fria_gate_reason
from compliance.documents import documentation_gate_reason
from compliance.intake import intake_funnel
from compliance.models import AgentDocument, ImpactAssessment, Intake
from registry.models import Agent

pytestmark = pytest.mark.django_db


def test_the_demo_has_an_agent_with_full_evidence_and_one_with_gaps():
    call_command("seed_demo", stdout=io.StringIO())
    full, gaps = Agent.objects.get(slug="support-triage"), Agent.objects.get(slug="refund-assistant")
    assert documentation_gate_reason(full) is None and fria_gate_reason(full) is None
    assert assessment_current(full, "dpia") is not None
    reason = documentation_gate_reason(gaps)
    assert "missing architecture and data-flow diagram, golden set, privacy sign-off" in reason
    assert "expired runbook" in reason
    assert "without an approved fundamental-rights" in fria_gate_reason(gaps)
    funnel = intake_funnel()
    assert (funnel["go"], funnel["below"], funnel["awaiting"]) == (1, 1, 1)
    counts = (Intake.objects.count(), AgentDocument.objects.count(), ImpactAssessment.objects.count())
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    assert (Intake.objects.count(), AgentDocument.objects.count(), ImpactAssessment.objects.count()) == counts
