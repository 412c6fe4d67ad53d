"""Review schedules: due dates by tier, the beat task opens once and mails once, the record
is pre-filled for its period, completing needs findings and outcome and moves the due date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from registry import reviews, tasks
from registry.models import Review, ReviewDossier
from reports import selectors, services
from tests.factories import AgentFactory, AgentVersionFactory, UserFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("tier", "due"), [(1, date(2026, 4, 15)), (2, date(2026, 7, 15)), (3, date(2027, 1, 15))])
def test_it_schedules_the_review_by_tier_cadence(tier, due, board_user):
    agent = AgentFactory(risk_tier=tier, deployed_at=datetime(2026, 1, 15, 12, tzinfo=UTC))
    assert agent.next_review_due == due
    items = selectors.reviews_due(user=board_user, start=date(2026, 1, 1), end=date(2027, 12, 31))
    assert [(i.agent, i.due_on, i.review) for i in items] == [(agent, due, None)]


def test_reviews_after_a_review_count_from_the_last_one(board_user):
    agent = AgentFactory(risk_tier=1, deployed_at=datetime(2025, 1, 1, tzinfo=UTC), last_reviewed_on=date(2026, 2, 28))
    assert agent.next_review_due == date(2026, 5, 28)


@pytest.fixture
def due_agent(db, board_user):
    """A tier-1 production agent whose quarterly review falls due today, with runs in the period."""
    owner = UserFactory(username="olivia", email="olivia@example.test")
    today = timezone.localdate()
    from registry.cadence import add_months

    # Reviewed three months ago to the day: the quarterly review falls due today.
    agent = AgentFactory(
        owner=owner,
        risk_tier=1,
        deployed_at=timezone.now() - timedelta(days=400),
        last_reviewed_on=add_months(today, -3),
    )
    assert agent.next_review_due <= today
    version = AgentVersionFactory(agent=agent)
    for i in range(20):
        make_run(
            agent,
            version=version,
            started_at=timezone.now() - timedelta(days=10, hours=i),
            outcome="resolved" if i < 17 else "escalated",
            cost_usd="0.50",
        )
    services.rollup_refresh()
    return agent


def test_the_beat_task_opens_the_review_and_mails_once_however_often_it_runs(
    due_agent, board_user, eager_celery, django_capture_on_commit_callbacks
):
    board_user.email = "board@example.test"
    board_user.save()
    UserFactory(username="board2", email="board2@example.test", roles=["Governance board"])
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.reviews_open_due_task()
    reviews = Review.objects.filter(agent=due_agent)
    assert reviews.count() == 1
    review = reviews.get()
    assert (review.kind, review.status, review.due_on) == ("scheduled", "open", due_agent.next_review_due)
    # One message per person (registry.channels): nobody sees the others' addresses.
    assert sorted(m.to[0] for m in mail.outbox) == ["board2@example.test", "board@example.test", "olivia@example.test"]
    assert due_agent.name in mail.outbox[0].subject
    # A redelivered notification task sends nothing more.
    assert tasks.review_notify(review.pk) is False
    assert len(mail.outbox) == 3
    assert ReviewDossier.objects.get(review=review).notified_at is not None


def test_a_failed_send_releases_the_claim_for_the_retry(due_agent, monkeypatch):
    review = reviews.reviews_open_due()[0]

    def boom(*args, **kwargs):
        raise OSError("database gone")

    monkeypatch.setattr(reviews, "notify", boom)
    with pytest.raises(OSError):
        reviews.review_notify(review_id=review.pk)
    assert ReviewDossier.objects.get(review=review).notified_at is None
    monkeypatch.undo()
    assert reviews.review_notify(review_id=review.pk) is True
    # Handed to the channels (their delivery task retries a failing mail server on its own).
    from registry.channel_models import AlertRecord

    assert AlertRecord.objects.filter(dedup_key=f"review:{review.pk}", kind="review").exists()


def test_it_does_not_open_reviews_that_are_not_due_or_for_retired_agents(db):
    AgentFactory(risk_tier=3, deployed_at=timezone.now() - timedelta(days=30))  # due in 11 months
    AgentFactory(risk_tier=1, status="retired", deployed_at=timezone.now() - timedelta(days=400))
    assert reviews.reviews_open_due() == []
    assert Review.objects.count() == 0


def test_the_review_comes_pre_filled_for_its_period(due_agent):
    from incidents.models import Incident
    from telemetry.models import ComplianceViolation

    Incident.objects.create(
        agent=due_agent,
        severity="sev2",
        title="Wrong refund amounts",
        detection_source="person",
        detected_at=timezone.now() - timedelta(days=5),
        financial_impact_usd=Decimal("250"),
    )
    ComplianceViolation.objects.create(
        agent=due_agent,
        version_key="9.9",
        kind=_violation_kind(),
        hour=timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=3),
        detail="unregistered",
        first_run_id="x",
        run_count=4,
    )
    review = reviews.reviews_open_due()[0]
    s = review.dossier.snapshot
    assert s["metrics"]["runs"] == 20
    assert s["metrics"]["success_rate_pct"] == "85.0"
    assert s["metrics"]["success_ok"] is False  # threshold 92 %
    assert s["metrics"]["escalation_rate_pct"] == "15.0" and s["metrics"]["escalation_ok"] is False
    assert s["cost"]["model_cost_usd"] == "10.00"
    assert s["cost"]["within_budget"] is True  # 10 USD against 1000 USD a month
    assert s["incidents"]["available"] and s["incidents"]["count"] == 1
    assert s["incidents"]["cost_usd"] == "250.00"
    assert s["evals"]["available"] is True and s["evals"]["points"] == []
    assert s["compliance"] == {"available": True, "count": 1, "runs": 4, "by_kind": {_violation_kind(): 4}}


def _violation_kind() -> str:
    from telemetry.models import ComplianceViolation

    return ComplianceViolation._meta.get_field("kind").choices[0][0]


def test_completing_needs_findings_and_outcome_and_moves_the_due_date(due_agent, board_user):
    review = reviews.reviews_open_due()[0]
    old_due = due_agent.next_review_due
    with pytest.raises(ValidationError) as err:
        reviews.review_complete(review_id=review.pk, reviewer=board_user, findings="  ", outcome="maybe")
    assert set(err.value.message_dict) == {"findings", "outcome"}
    review.refresh_from_db()
    assert review.status == "open"

    reviews.review_complete(
        review_id=review.pk, reviewer=board_user, findings="Escalations high.", outcome="change_required"
    )
    review.refresh_from_db()
    due_agent.refresh_from_db()
    today = timezone.localdate()
    assert (review.status, review.outcome, review.reviewer) == ("completed", "change_required", board_user)
    assert due_agent.last_reviewed_on == today
    from registry.cadence import add_months

    assert due_agent.next_review_due == add_months(today, 3) and due_agent.next_review_due > old_due
    with pytest.raises(ValidationError):
        reviews.review_complete(review_id=review.pk, reviewer=board_user, findings="again", outcome="continue")
    # The next beat run opens nothing: the next review is three months away.
    assert reviews.reviews_open_due() == []


def test_an_ad_hoc_review_is_opened_pre_filled_and_mailed(
    due_agent, board_user, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        review = reviews.review_open_ad_hoc(
            agent=due_agent, kind="ad_hoc_scope", reason="New tool: refunds", actor=board_user
        )
    assert review.kind == "ad_hoc_scope" and review.dossier.snapshot["metrics"]["runs"] == 20
    assert len(mail.outbox) == 2  # the board member and the owner, one message each
    with pytest.raises(ValidationError):
        reviews.review_open_ad_hoc(agent=due_agent, kind="scheduled", reason="x")
    with pytest.raises(ValidationError):
        reviews.review_open_ad_hoc(agent=due_agent, kind="ad_hoc_scope", reason="  ")
    assert Review.objects.filter(agent=due_agent).count() == 1


def test_an_incident_opened_review_is_mailed_and_pre_filled_like_a_scheduled_one(
    due_agent, board_user, eager_celery, django_capture_on_commit_callbacks
):
    """GIVEN an agent with runs in the period, an owner and a board member with e-mail
    WHEN a SEV2 incident is opened for it (incidents asks registry for the ad-hoc review)
    THEN the review is pre-filled from the same figures as a scheduled one (runs, incidents)
    and the owner and the board get the same one e-mail."""
    from incidents.services import incident_open_or_link

    board_user.email = "board@example.test"
    board_user.save()
    with django_capture_on_commit_callbacks(execute=True):
        incident, created = incident_open_or_link(
            agent=due_agent,
            severity="sev2",
            title="Refunds to the wrong account",
            failure_mode="policy_violation",
            detection_source="drift_check",
        )
    assert created and incident.review is not None
    review = incident.review
    assert review.kind == "ad_hoc_incident"
    s = ReviewDossier.objects.get(review=review).snapshot
    assert s["metrics"]["runs"] == 20 and s["metrics"]["success_rate_pct"] == "85.0"
    assert s["incidents"]["available"] and s["incidents"]["count"] == 1
    assert s["incidents"]["items"][0]["title"] == "Refunds to the wrong account"
    assert sorted(m.to[0] for m in mail.outbox) == ["board@example.test", "olivia@example.test"]
    assert incident.reference in mail.outbox[0].body
    assert f"/reports/reviews/{review.pk}/" in mail.outbox[0].body

    # The scheduled review of the same agent carries the same sections and reaches the same people.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        scheduled = reviews.reviews_open_due()[0]
    assert set(scheduled.dossier.snapshot) == set(s)
    assert sorted(m.to[0] for m in mail.outbox) == ["board@example.test", "olivia@example.test"]
