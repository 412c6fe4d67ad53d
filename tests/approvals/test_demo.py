import pytest

from approvals.demo import seed_approvals
from approvals.extensions import apply_gates, request_created_hooks
from approvals.models import ApprovalRequest
from registry.demo import seed_registry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_foreign_hooks():
    """The evals and incidents gates and hooks are tested in their apps."""
    with apply_gates.override(), request_created_hooks.override():
        yield


def test_the_demo_has_pending_and_decided_requests_and_is_idempotent():
    seed_registry()
    import sys

    seed_approvals(stdout=sys.stdout)
    statuses = sorted(ApprovalRequest.objects.values_list("status", flat=True))
    assert statuses == ["applied", "denied", "pending", "pending"]
    seed_approvals()
    assert ApprovalRequest.objects.count() == 4
