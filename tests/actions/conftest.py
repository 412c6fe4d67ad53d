"""Fixtures of the action gate: the support managers, the refund tool and its seeded policy."""

from __future__ import annotations

import pytest

from approvals.actions.demo import REFUND_POLICY, ensure_support_managers
from approvals.actions.services import policy_version_create
from tests.factories import ToolFactory


@pytest.fixture
def support_managers(db):
    """The "Support manager" group with its two members, support1 and support2 (password ``pw``)."""
    group = ensure_support_managers(password="pw")
    return list(group.user_set.order_by("username"))


@pytest.fixture
def refund_tool(db):
    return ToolFactory(name="payments.refund", system="Stripe", action_tier=3)


@pytest.fixture
def refund_policy(support_managers, refund_tool, board_user):
    return policy_version_create(tool=refund_tool, actor=board_user, **REFUND_POLICY)


def refund(client, key="k-1", **params):
    body = {"tool": "payments.refund", "idempotency_key": key, "parameters": params}
    return client.post("/api/v1/action-requests/", body, format="json")
