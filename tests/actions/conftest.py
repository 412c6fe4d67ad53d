"""Fixtures of the action gate: the support managers, the refund tool and its seeded policy."""

from __future__ import annotations

import pytest

from actions.demo import REFUND_POLICY, ensure_support_managers
from actions.services import policy_version_create
from tests.factories import ToolFactory
from tests.loopback_targets import loopback_outbound_allowed  # noqa: F401 - receivers on 127.0.0.1


@pytest.fixture
def support_managers(db):
    """The "Support manager" group with its two members, support1 and support2 (password ``pw``)."""
    group = ensure_support_managers(password="pw")
    return list(group.user_set.order_by("username"))


@pytest.fixture
def refund_tool(db):
    return ToolFactory(name="payments.refund", system="Stripe", action_tier=3)


@pytest.fixture
def refund_policy(support_managers, refund_tool, board_user, agent):
    # The runtime gate refuses tools the deployed version was not granted: ``agent`` (the one
    # ``agent_client`` acts as) runs a deployed version holding payments.refund.
    grant_deployed(agent, refund_tool)
    return policy_version_create(tool=refund_tool, actor=board_user, **REFUND_POLICY)


def grant_deployed(agent, tool, constraints=None, label="1.0"):
    """Give ``agent``'s deployed version (made if it has none) a grant of ``tool``. A fixture
    shortcut past the frozen-grant rule; the real path is a tool-grant request."""
    from registry.choices import VersionState
    from registry.models import AgentVersion, ToolGrant
    from tests.factories import AgentVersionFactory

    version = agent.versions.filter(state=VersionState.DEPLOYED).first()
    if version is None:
        version = AgentVersionFactory(agent=agent, label=label)
        AgentVersion.objects.filter(pk=version.pk).update(state=VersionState.DEPLOYED)
        version.refresh_from_db()
    ToolGrant.objects.filter(version=version, tool=tool).delete()
    ToolGrant.objects.bulk_create([ToolGrant(version=version, tool=tool, constraints=constraints or {})])
    version.refresh_bundle_digest()
    return version


def refund(client, key="k-1", **params):
    body = {"tool": "payments.refund", "idempotency_key": key, "parameters": params}
    return client.post("/api/v1/action-requests/", body, format="json")


@pytest.fixture(autouse=True)
def _celery_eager():
    """Enqueued tasks run in-process (no worker in unit tests; the webhook test starts a real one)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def other_agent_client(db):
    """A second agent (another team) with its own key."""
    from rest_framework.test import APIClient

    from registry.services import agent_key_issue
    from tests.factories import AgentFactory

    other = AgentFactory(slug="other-agent", name="Other Agent")
    grant_deployed(other, ToolFactory(name="payments.refund", system="Stripe", action_tier=3))
    _key, secret = agent_key_issue(agent=other, name="other key")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    client.agent = other
    return client


@pytest.fixture
def gate_reseeded(reseeded):
    """After a transactional flush: the role groups and approval policies (``reseeded``) and
    this app's role permissions and beat schedules."""
    import importlib

    from django.apps import apps

    importlib.import_module("actions.migrations.0002_permissions_and_schedules").seed(apps, None)
