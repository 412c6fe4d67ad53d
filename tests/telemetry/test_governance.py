"""Compliance violations on ingest: each case, the digest case, dedup per hour, the run kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from registry.choices import VersionState
from telemetry.models import ComplianceViolation, Run
from tests.factories import AgentVersionFactory

pytestmark = pytest.mark.django_db


def _post(client, payload):
    response = client.post("/api/v1/runs/", payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_clean_run_makes_no_violation(agent_client, run_payload, deployed_version):
    body = _post(agent_client, run_payload(bundle_digest=deployed_version.bundle_digest))
    assert "violations" not in body
    assert not ComplianceViolation.objects.exists()


def test_an_unregistered_version_label_is_a_violation_and_the_run_is_kept(agent_client, run_payload, agent):
    body = _post(agent_client, run_payload(run_id="r1", version_label="9.9"))
    assert body["violations"] == ["unapproved_version"]
    violation = ComplianceViolation.objects.get()
    assert (violation.agent, violation.kind, violation.version_key, violation.version) == (
        agent,
        "unapproved_version",
        "9.9",
        None,
    )
    assert Run.objects.get(run_id="r1").version is None


def test_a_draft_version_is_a_violation(agent_client, run_payload, agent):
    draft = AgentVersionFactory(agent=agent, label="2.0-draft", model_name="gpt-4o")
    assert draft.state == VersionState.DRAFT
    body = _post(agent_client, run_payload(version_label="2.0-draft", tools_used=[]))
    assert body["violations"] == ["unapproved_version"]
    assert ComplianceViolation.objects.get().version == draft


def test_an_unknown_bundle_digest_is_a_violation(agent_client, run_payload, deployed_version):
    body = _post(agent_client, run_payload(bundle_digest="0" * 64))
    assert body["violations"] == ["unapproved_version"]
    violation = ComplianceViolation.objects.get()
    assert violation.version_key == "0" * 64
    assert "digest" in violation.detail


def test_a_digest_of_a_draft_version_is_a_violation_even_with_an_approved_label(agent_client, run_payload, agent):
    draft = AgentVersionFactory(agent=agent, label="3.0", model_name="gpt-4o")
    body = _post(agent_client, run_payload(version_label="1.1", bundle_digest=draft.bundle_digest, tools_used=[]))
    assert body["violations"] == ["unapproved_version"]


def test_a_model_other_than_the_pinned_one_is_a_violation(agent_client, run_payload, deployed_version):
    body = _post(agent_client, run_payload(model="gpt-3.5-turbo"))
    assert body["violations"] == ["model_mismatch"]
    violation = ComplianceViolation.objects.get()
    assert violation.version == deployed_version and "gpt-3.5-turbo" in violation.detail


def test_the_provider_prefixed_pinned_model_is_fine(agent_client, run_payload, deployed_version):
    body = _post(agent_client, run_payload(model=f"{deployed_version.model_provider}/gpt-4o"))
    assert "violations" not in body


def test_an_ungranted_tool_is_a_violation(agent_client, run_payload, deployed_version):
    body = _post(agent_client, run_payload(tools_used=["tickets.read", "payments.refund"]))
    assert body["violations"] == ["ungranted_tool"]
    assert "payments.refund" in ComplianceViolation.objects.get().detail


def test_violations_are_deduplicated_per_version_kind_and_hour(agent_client, run_payload, agent):
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)

    def at(minute, **kw):
        start = hour + timedelta(minutes=minute)
        return run_payload(started_at=start.isoformat(), ended_at=(start + timedelta(seconds=5)).isoformat(), **kw)

    runs = [at(1, version_label="9.9"), at(20, version_label="9.9"), at(50, version_label="9.9")]
    agent_client.post("/api/v1/runs/batch/", {"runs": runs}, format="json")
    _post(agent_client, at(59, version_label="9.9"))  # a later request, same hour
    _post(agent_client, at(70, version_label="9.9"))  # next hour
    _post(agent_client, at(5, version_label="8.8"))  # another version
    _post(agent_client, at(6, version_label="9.9", model="other-model"))  # unknown version → no model check
    rows = {(v.version_key, v.hour): v.run_count for v in ComplianceViolation.objects.filter(agent=agent)}
    assert rows == {
        ("9.9", hour): 5,
        ("9.9", hour + timedelta(hours=1)): 1,
        ("8.8", hour): 1,
    }
    assert Run.objects.filter(agent=agent).count() == 7


def test_a_replayed_run_does_not_count_twice(agent_client, run_payload):
    payload = run_payload(version_label="9.9")
    _post(agent_client, payload)
    agent_client.post("/api/v1/runs/", payload, format="json")
    assert ComplianceViolation.objects.get().run_count == 1


def test_the_violation_shows_on_the_agent_card_and_the_home_page(client, agent_client, run_payload, board_user, agent):
    _post(agent_client, run_payload(version_label="9.9"))
    client.force_login(board_user)
    card = client.get(agent.get_absolute_url()).content.decode()
    assert 'data-testid="agent-violations"' in card and "Version 9.9 is not registered" in card
    home = client.get("/").content.decode()
    assert 'data-testid="panel-violations"' in home and "Unapproved version" in home
