"""Fixtures for the approval engine: a tier-2 agent with a deployed version, a catalog tool,
three approvers with global approve_agent, a board member outside the owning team, an executive."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from registry import roles
from registry.choices import VersionState
from tests.factories import AgentVersionFactory, ToolFactory, ToolGrantFactory, UserFactory


@pytest.fixture(autouse=True)
def _celery_eager():
    """Run enqueued tasks in-process so e-mails can be asserted (no worker in unit tests)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def make_approver(username: str, *, role=roles.APPROVER, global_perm: bool = True):
    user = UserFactory(username=username, roles=[role])
    if global_perm:
        assign_perm("registry.approve_agent", user)
    return user


@pytest.fixture
def approver_a(db):
    return make_approver("alice")


@pytest.fixture
def approver_b(db):
    return make_approver("bob")


@pytest.fixture
def approver_c(db):
    return make_approver("carol")


@pytest.fixture
def board_member(db):
    """Governance board (global approve_agent through the role), not on the owning team."""
    return UserFactory(username="gina", roles=[roles.GOVERNANCE_BOARD])


@pytest.fixture
def executive(db):
    return UserFactory(username="eve", roles=[roles.EXECUTIVE])


@pytest.fixture
def deployed(agent):
    """The agent's deployed version 1.0 with one read-only tool."""
    version = AgentVersionFactory(agent=agent, label="1.0")
    ToolGrantFactory(version=version, tool=ToolFactory(name="kb.search", action_tier=0))
    version.state = VersionState.DEPLOYED
    version.save()
    return version


@pytest.fixture
def refund_tool(db):
    return ToolFactory(name="payments.refund", system="Stripe", action_tier=3)


@pytest.fixture
def grant_request(agent, deployed, refund_tool, owner_user):
    from approvals.services import change_request_create

    return change_request_create(
        agent=agent,
        kind="tool_grant",
        payload={"tool": "payments.refund", "constraints": {"max_amount_usd": 50}},
        requester=owner_user,
        justification="Refunds under 50 USD without a human.",
    )


@pytest.fixture(autouse=True)
def _no_foreign_hooks():
    """Other apps' gates and hooks (evals, incidents) are tested there; here each test installs
    the stand-ins it needs (``tests.approvals.hooks``)."""
    from approvals.extensions import apply_gates, request_created_hooks

    with apply_gates.override(), request_created_hooks.override():
        yield
