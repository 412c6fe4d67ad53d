import pytest

from approvals.demo import seed_approvals
from approvals.models import ApprovalRequest
from registry.demo import seed_registry

pytestmark = pytest.mark.django_db


def test_the_demo_has_pending_and_decided_requests_and_is_idempotent(settings):
    settings.QUORUM_APPLY_GATES = []
    settings.QUORUM_REQUEST_CREATED_HOOKS = []
    seed_registry()
    import sys

    seed_approvals(stdout=sys.stdout)
    statuses = sorted(ApprovalRequest.objects.values_list("status", flat=True))
    assert statuses == ["applied", "denied", "pending", "pending"]
    seed_approvals()
    assert ApprovalRequest.objects.count() == 4
