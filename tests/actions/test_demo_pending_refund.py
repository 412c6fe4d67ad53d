"""seed_demo keeps one fresh pending refund in the support managers' queue: a runtime action
expires 15 minutes after it is asked, and the demo must not run dry after that."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from actions.choices import ActionStatus
from actions.demo import seed_actions
from actions.models import ActionRequest
from approvals.models import ApprovalRequest
from approvals.selectors import requests_awaiting
from approvals.services import requests_expire
from registry.demo import seed_registry

pytestmark = pytest.mark.django_db


def _seed():
    seed_registry()
    seed_actions()


def _waiting_for(username: str) -> list[ApprovalRequest]:
    return [r for r in requests_awaiting(get_user_model().objects.get(username=username)) if r.kind == "runtime_action"]


def _expire_everything_pending():
    past = timezone.now() - timedelta(minutes=1)
    ApprovalRequest.objects.filter(kind="runtime_action", status="pending").update(expires_at=past)
    ActionRequest.objects.filter(status=ActionStatus.PENDING).update(expires_at=past)
    requests_expire()


def test_it_seeds_one_pending_refund_for_the_support_managers():
    _seed()
    assert len(_waiting_for("support1")) == 1 and len(_waiting_for("support2")) == 1


def test_re_running_while_it_waits_changes_nothing():
    _seed()
    before = sorted(ActionRequest.objects.values_list("idempotency_key", "status"))
    _seed()
    assert sorted(ActionRequest.objects.values_list("idempotency_key", "status")) == before


def test_it_asks_again_once_the_last_one_expired_and_only_once():
    """GIVEN the seeded pending refund expired (15 minutes later)
    WHEN seed_demo runs again THEN a fresh pending refund waits for the support managers,
    and a further run adds nothing."""
    _seed()
    _expire_everything_pending()
    assert _waiting_for("support1") == []
    expired = ActionRequest.objects.get(idempotency_key="demo-refund-2")
    assert expired.status == ActionStatus.EXPIRED

    _seed()
    waiting = _waiting_for("support1")
    assert len(waiting) == 1
    fresh = ActionRequest.objects.get(approval_request=waiting[0])
    assert fresh.idempotency_key == "demo-refund-2.2" and fresh.status == ActionStatus.PENDING
    assert fresh.expires_at > timezone.now() + timedelta(minutes=10)
    count = ActionRequest.objects.count()

    _seed()
    assert ActionRequest.objects.count() == count
    assert [r.pk for r in _waiting_for("support1")] == [waiting[0].pk]
