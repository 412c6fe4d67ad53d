"""Retention and legal hold: each family is purged past its period, in batches; nothing of an
agent under legal hold is touched; a second run purges nothing more; the periods are the
board's to change (never under six months for logs); holds are the board's and auditors'."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from actions.models import ActionRequest
from incidents.models import Incident, TimelineEntry
from telemetry.models import Run
from tests.actions.conftest import grant_deployed, refund
from tests.factories import AgentFactory
from trail.choices import DEFAULT_DAYS
from trail.models import LegalHold, RetentionRule
from trail.services import legal_hold_set, retention_days, retention_purge

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def _runs(agent, *, age_days: int, n: int, prefix: str, metadata=None) -> None:
    at = timezone.now() - age_days * DAY
    Run.objects.bulk_create(
        Run(
            agent=agent, run_id=f"{prefix}-{i}", started_at=at, ended_at=at, outcome="resolved", metadata=metadata or {}
        )
        for i in range(n)
    )


def _closed_incident(agent, *, closed_days_ago: int) -> Incident:
    closed = timezone.now() - closed_days_ago * DAY
    incident = Incident.objects.create(
        agent=agent,
        severity="sev3",
        title="Old",
        status="closed",
        detection_source="person",
        detected_at=closed - DAY,
        mitigated_at=closed - DAY,
        resolved_at=closed - DAY,
        closed_at=closed,
    )
    TimelineEntry.objects.create(incident=incident, kind="note", note="Closed long ago.")
    return incident


@pytest.fixture
def two_agents(agent, agent_client, refund_policy, board_user):
    """``agent`` (support-triage, to be put under legal hold) and ``free`` (no hold), each with
    old and recent runs, run metadata, an old refund's parameters and an incident closed 8 years ago."""
    free = AgentFactory(slug="free-agent", name="Free Agent")
    grant_deployed(free, refund_policy.tool)
    for a in (agent, free):
        _runs(a, age_days=400, n=7, prefix=f"{a.slug}-old")  # past 13 months: due
        _runs(a, age_days=100, n=3, prefix=f"{a.slug}-meta", metadata={"prompt": "secret"})  # metadata due
        _runs(a, age_days=10, n=2, prefix=f"{a.slug}-new", metadata={"prompt": "recent"})  # nothing due
        _closed_incident(a, closed_days_ago=8 * 365)
        _closed_incident(a, closed_days_ago=30)
    old = refund(agent_client, key="old", amount_usd=20, customer_tier="pro", order_id="A-1").json()
    from actions.services import action_request_submit

    free_old = action_request_submit(
        agent=free,
        tool_name="payments.refund",
        parameters={"amount_usd": 20, "customer_tier": "pro"},
        idempotency_key="free-old",
    ).action
    ActionRequest.objects.filter(pk__in=[old["id"], free_old.pk]).update(created_at=timezone.now() - 91 * DAY)
    return agent, free


def _state(agent) -> dict:
    return {
        "runs": Run.objects.filter(agent=agent).count(),
        "with_metadata": Run.objects.filter(agent=agent).exclude(metadata={}).count(),
        "parameters": ActionRequest.objects.filter(agent=agent, parameters_purged_at__isnull=True).count(),
        "incidents": Incident.objects.filter(agent=agent).count(),
    }


def test_it_purges_what_is_due_and_nothing_under_legal_hold_and_is_idempotent(two_agents, board_user):
    held, free = two_agents
    legal_hold_set(agent=held, actor=board_user, reason="Matter 2026-17: refund complaints.")
    before_held = _state(held)

    first = retention_purge(batch=4)  # several batches per family

    assert _state(held) == before_held
    assert _state(free) == {"runs": 5, "with_metadata": 2, "parameters": 0, "incidents": 1}
    assert first.counts == {
        "audit_entries": 0,
        "runs": 7,
        "run_metadata": 3,
        "action_parameters": 1,
        "incidents": 1,
    }
    assert first.held_agents == [held.slug]
    assert not TimelineEntry.objects.filter(
        incident__agent=free, note="Closed long ago.", incident__closed_at__lt=timezone.now() - 365 * DAY
    ).exists()

    second = retention_purge(batch=4)

    assert second.counts == {"audit_entries": 0, "runs": 0, "run_metadata": 0, "action_parameters": 0, "incidents": 0}
    assert _state(free) == {"runs": 5, "with_metadata": 2, "parameters": 0, "incidents": 1}
    assert _state(held) == before_held


def test_a_released_hold_lets_the_next_purge_catch_up(client, two_agents, auditor_user):
    held, _free = two_agents
    hold = legal_hold_set(agent=held, actor=auditor_user, reason="Regulator's request.")
    retention_purge()
    client.force_login(auditor_user)

    response = client.post(reverse("trail:hold_release", args=[hold.pk]), {"release_reason": "Matter closed."})

    assert response.status_code == 302
    retention_purge()
    assert _state(held) == {"runs": 5, "with_metadata": 2, "parameters": 0, "incidents": 1}


def test_defaults_and_the_nightly_schedule():
    assert retention_days() == {
        "runs": 396,
        "run_metadata": 90,
        "action_parameters": 90,
        "audit_entries": 2557,
        "incidents": 2557,
    }
    assert retention_days() == {str(k): v for k, v in DEFAULT_DAYS.items()}
    task = PeriodicTask.objects.get(name="trail: nightly retention purge")
    assert (task.task, task.crontab.hour, task.crontab.minute, task.enabled) == (
        "trail.tasks.retention_purge",
        "3",
        "30",
        True,
    )
    # The action gate's own purge (blind to holds) is replaced.
    assert not PeriodicTask.objects.filter(task="actions.tasks.purge_action_parameters").exists()


def test_setting_and_releasing_a_hold_is_audited_and_for_board_and_auditors(
    client, agent, auditor_user, executive_user
):
    client.force_login(executive_user)
    assert client.post(reverse("trail:hold_set"), {"agent": agent.slug, "reason": "x"}).status_code == 403
    client.force_login(auditor_user)

    response = client.post(reverse("trail:hold_set"), {"agent": agent.slug, "reason": "Matter 12."})

    assert response.status_code == 302 and response.url == agent.get_absolute_url()
    hold = LegalHold.objects.get(agent=agent, released_at__isnull=True)
    assert hold.set_by == auditor_user
    again = client.post(reverse("trail:hold_set"), {"agent": agent.slug, "reason": "Twice."})
    assert again.status_code == 400 and "already under legal hold" in again.content.decode()
    assert client.post(reverse("trail:hold_release", args=[hold.pk]), {"release_reason": ""}).status_code == 400
    assert client.post(reverse("trail:hold_release", args=[hold.pk]), {"release_reason": "Done."}).status_code == 302
    ct = ContentType.objects.get_for_model(LegalHold)
    entries = LogEntry.objects.filter(content_type=ct, object_pk=str(hold.pk)).order_by("timestamp")
    assert [e.action for e in entries] == [LogEntry.Action.CREATE, LogEntry.Action.UPDATE]
    assert all(e.actor == auditor_user for e in entries)
    card = client.get(agent.get_absolute_url()).content.decode()
    assert 'data-testid="hold-set-form"' in card


@pytest.mark.parametrize(
    "body, message",
    [
        ({"agent": "support-triage", "reason": ""}, "reason"),
        ({"agent": "", "reason": "x"}, "agent"),
        ({"agent": "no such agent!", "reason": "x"}, "agent"),
    ],
)
def test_bad_hold_input_is_a_400_and_changes_nothing(client, agent, board_user, body, message):
    client.force_login(board_user)
    response = client.post(reverse("trail:hold_set"), body)
    assert response.status_code == 400 and message in response.content.decode()
    assert not LegalHold.objects.exists()


def test_the_board_changes_a_period_never_under_six_months_for_logs(client, board_user, auditor_user):
    client.force_login(auditor_user)
    assert client.post(reverse("trail:retention_update"), {"family": "runs", "days": 500}).status_code == 403
    client.force_login(board_user)

    assert client.post(reverse("trail:retention_update"), {"family": "runs", "days": 500}).status_code == 302
    assert RetentionRule.objects.get(family="runs").days == 500

    for body in (
        {"family": "runs", "days": 30},
        {"family": "audit_entries", "days": "abc"},
        {"family": "nonsense", "days": 30},
        {"family": "run_metadata", "days": 0},
        {"family": "run_metadata", "days": 10**9},
    ):
        response = client.post(reverse("trail:retention_update"), body)
        assert response.status_code == 400, body
    assert (
        "at least 183 days"
        in client.post(reverse("trail:retention_update"), {"family": "runs", "days": 30}).content.decode()
    )
    assert retention_days()["runs"] == 500
    page = client.get(reverse("trail:retention")).content.decode()
    assert "500 days" in page and "(default 396)" in page


def test_every_role_reads_what_is_kept_how_long(client, executive_user, operator_user, auditor_user, outsider_user):
    for user in (executive_user, operator_user, auditor_user):
        client.force_login(user)
        page = client.get(reverse("trail:retention"))
        assert page.status_code == 200
        assert 'data-testid="retention-table"' in page.content.decode()
        assert 'data-testid="retention-form"' not in page.content.decode()
    client.force_login(outsider_user)
    assert client.get(reverse("trail:retention")).status_code == 403


def test_the_readme_command_purges(two_agents):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("retention_purge", stdout=out)

    assert "runs: 14 purged" in out.getvalue()


def test_audit_entries_are_pruned_by_whole_signed_segments_and_never_under_hold(agent, board_user):
    """GIVEN chain entries (``agent``'s among the first), a signed checkpoint, then more entries
    WHEN the purge runs eight years later with ``agent`` under legal hold THEN no entry goes;
    once the hold is released everything through the checkpoint goes, nothing after it, and the
    chain still verifies."""
    from registry.audit_chain import chain_append, chain_verify, checkpoint_sign
    from registry.models import AuditEntry
    from trail.services import legal_hold_release

    chain_append(action="test.before", actor=board_user, agent=agent, summary="before the checkpoint")
    checkpoint = checkpoint_sign(force=True)
    chain_append(action="test.after", actor=board_user, summary="after the checkpoint")
    later = timezone.now() + 8 * 365 * DAY
    hold = legal_hold_set(agent=agent, actor=board_user, reason="Matter 7.")
    total = AuditEntry.objects.count()

    held_run = retention_purge(now=later)

    assert held_run.counts["audit_entries"] == 0
    assert AuditEntry.objects.filter(seq__lte=checkpoint.seq).count() == checkpoint.seq
    assert AuditEntry.objects.count() >= total
    legal_hold_release(hold_id=hold.pk, actor=board_user, reason="Closed.")

    freed = retention_purge(now=later)

    assert freed.counts["audit_entries"] == checkpoint.seq
    assert not AuditEntry.objects.filter(seq__lte=checkpoint.seq).exists()
    assert AuditEntry.objects.filter(action="test.after").exists()
    assert chain_verify().ok
    assert retention_purge(now=later).counts["audit_entries"] == 0
