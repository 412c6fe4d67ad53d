"""Fixtures of the audit trail's tests: the action gate's refund set-up and the approval
engine's tool-grant request, reused from those apps' own tests."""

from __future__ import annotations

from tests.actions.conftest import _celery_eager, refund_policy, refund_tool, support_managers  # noqa: F401
from tests.approvals.conftest import approver_a, approver_b, approver_c, deployed, grant_request  # noqa: F401
