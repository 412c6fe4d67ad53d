"""Issue 13, item 5: break-glass is the one single-person path, explicit and audited: it
applies at once, records who and why, and raises a retroactive review that two other people
must confirm within 24 hours (on everyone's home page until then, overdue after)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.utils import timezone

from approvals.break_glass import (
    BREAK_GLASS_REVIEW,
    break_glass_apply,
    break_glass_reviews_overdue_count,
)
from approvals.choices import RequestStatus
from approvals.exceptions import DecisionRefused, RequestRefused
from approvals.models import ApprovalRequest
from approvals.services import change_request_create, decision_record
from registry.models import Agent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def tier_request(agent, owner_user):
    """A pending request to move the tier-2 agent to tier 3 (needs two approvers)."""
    return change_request_create(
        agent=agent, kind="tier_change", payload={"risk_tier": 3}, requester=owner_user, justification="Lower risk."
    )


def test_break_glass_applies_at_once_and_raises_the_review(agent, tier_request, superuser):
    review = break_glass_apply(request_id=tier_request.pk, actor=superuser, reason="Outage: the tier blocks the fix.")
    tier_request.refresh_from_db()
    assert tier_request.status == RequestStatus.APPLIED
    assert Agent.objects.get(pk=agent.pk).risk_tier == 3
    assert review.kind == BREAK_GLASS_REVIEW
    assert review.status == RequestStatus.PENDING
    assert review.requester == superuser
    assert review.policy_snapshot["required_approvals"] >= 2
    assert review.payload["request_id"] == tier_request.pk
    assert review.payload["reason"] == "Outage: the tier blocks the fix."


def test_break_glass_is_audited_with_the_superuser_and_the_reason(tier_request, superuser):
    review = break_glass_apply(request_id=tier_request.pk, actor=superuser, reason="Outage.")
    ct = ContentType.objects.get_for_model(ApprovalRequest)
    applied = LogEntry.objects.filter(content_type=ct, object_id=tier_request.pk, action=LogEntry.Action.UPDATE)
    assert any(e.actor == superuser and "status" in e.changes for e in applied)
    created = LogEntry.objects.get(content_type=ct, object_id=review.pk, action=LogEntry.Action.CREATE)
    assert created.actor == superuser
    assert "Outage." in review.justification


def test_a_reason_is_required_and_nothing_changes_without_one(agent, tier_request, superuser):
    with pytest.raises(ValidationError) as exc:
        break_glass_apply(request_id=tier_request.pk, actor=superuser, reason="  ")
    assert "reason" in exc.value.message_dict
    tier_request.refresh_from_db()
    assert tier_request.status == RequestStatus.PENDING
    assert Agent.objects.get(pk=agent.pk).risk_tier == 2
    assert not ApprovalRequest.objects.filter(kind=BREAK_GLASS_REVIEW).exists()


def test_only_a_superuser_may_break_the_glass(agent, tier_request, board_user, client):
    with pytest.raises(RequestRefused):
        break_glass_apply(request_id=tier_request.pk, actor=board_user, reason="I am sure.")
    client.force_login(board_user)
    response = client.post(f"/approvals/{tier_request.pk}/break-glass/", {"reason": "I am sure."})
    assert response.status_code == 403
    assert Agent.objects.get(pk=agent.pk).risk_tier == 2


def test_the_review_needs_two_others_and_never_the_superuser(tier_request, superuser, approver_a, approver_b):
    review = break_glass_apply(request_id=tier_request.pk, actor=superuser, reason="Outage.")
    with pytest.raises(DecisionRefused):
        decision_record(
            request_id=review.pk, approver=superuser, verdict="approve", reason="me", payload_hash=review.payload_hash
        )
    for user in (approver_a, approver_b):
        decision_record(
            request_id=review.pk, approver=user, verdict="approve", reason="checked", payload_hash=review.payload_hash
        )
    review.refresh_from_db()
    assert review.status == RequestStatus.APPLIED


def test_the_review_is_on_everyones_home_page_and_overdue_after_24_hours(tier_request, superuser, client):
    review = break_glass_apply(request_id=tier_request.pk, actor=superuser, reason="Outage.")
    assert break_glass_reviews_overdue_count() == 0
    someone = UserFactory(username="anyone")
    client.force_login(someone)
    home = client.get("/").content.decode()
    assert 'data-testid="home-break-glass"' in home and f"#{review.pk}" in home
    assert "0 overdue" in home
    ApprovalRequest.objects.filter(pk=review.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert break_glass_reviews_overdue_count() == 1
    assert "1 overdue" in client.get("/").content.decode()


def test_the_console_page_breaks_the_glass_with_a_reason(agent, tier_request, superuser, client):
    client.force_login(superuser)
    page = client.get(f"/approvals/{tier_request.pk}/").content.decode()
    assert 'data-testid="break-glass-link"' in page
    refused = client.post(f"/approvals/{tier_request.pk}/break-glass/", {"reason": ""})
    assert refused.status_code == 400
    assert Agent.objects.get(pk=agent.pk).risk_tier == 2
    response = client.post(f"/approvals/{tier_request.pk}/break-glass/", {"reason": "Outage."})
    review = ApprovalRequest.objects.get(kind=BREAK_GLASS_REVIEW)
    assert response.status_code == 302 and response["Location"] == review.get_absolute_url()
    assert Agent.objects.get(pk=agent.pk).risk_tier == 3
    again = client.post(f"/approvals/{tier_request.pk}/break-glass/", {"reason": "Twice."})
    assert again.status_code == 409
