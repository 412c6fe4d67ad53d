"""An applied request's page shows the comparison it was decided on, labelled as such, not the
payload against today's state (which already includes the change)."""

from __future__ import annotations

import pytest

from approvals.choices import RequestStatus
from approvals.models import ApprovalRequest
from approvals.services import decision_record

pytestmark = pytest.mark.django_db


def _approve_by_two(req, *approvers):
    for approver in approvers:
        decision_record(
            request_id=req.pk, approver=approver, verdict="approve", reason="Checked.", payload_hash=req.payload_hash
        )
    return ApprovalRequest.objects.get(pk=req.pk)


def test_it_keeps_the_comparison_when_applying(grant_request, approver_a, approver_b):
    req = _approve_by_two(grant_request, approver_a, approver_b)

    assert req.status == RequestStatus.APPLIED
    rows = {row["label"]: row for row in req.diff_at_apply}
    assert rows["Tools"]["current"] == "kb.search"
    assert rows["Tools"]["proposed"] == "kb.search, payments.refund"
    assert rows["Deployed version"]["current"] == "1.0"


def test_the_applied_page_shows_the_state_at_the_decision_labelled(client, grant_request, approver_a, approver_b):
    """GIVEN a tool grant approved by two and applied (the agent now has payments.refund)
    WHEN an approver opens the request THEN "before" still reads kb.search alone, labelled as the
    state when applied, not today's state (which would already list payments.refund)."""
    _approve_by_two(grant_request, approver_a, approver_b)
    client.force_login(approver_a)

    html = client.get(grant_request.get_absolute_url()).content.decode()

    assert 'data-testid="diff-snapshot-note"' in html and "As it stood when the request was applied" in html
    assert "Before (when applied)" in html
    assert '<del class="text-danger-emphasis">kb.search</del>' in html
    assert '<ins class="text-success-emphasis">kb.search, payments.refund</ins>' in html


def test_a_request_applied_without_a_snapshot_says_it_compares_with_today(
    client, grant_request, approver_a, approver_b
):
    _approve_by_two(grant_request, approver_a, approver_b)
    ApprovalRequest.objects.filter(pk=grant_request.pk).update(diff_at_apply=None)  # applied before the field
    client.force_login(approver_a)

    html = client.get(grant_request.get_absolute_url()).content.decode()

    assert 'data-testid="diff-today-note"' in html and "Compared with today's state" in html


def test_a_pending_request_compares_with_today(client, grant_request, approver_a):
    client.force_login(approver_a)
    html = client.get(grant_request.get_absolute_url()).content.decode()
    assert "diff-snapshot-note" not in html and "diff-today-note" not in html
    assert "After applying" in html
