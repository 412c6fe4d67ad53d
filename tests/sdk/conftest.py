"""Fixtures of the SDK's tests: a live Quorum (pytest-django's live server on the test
database), an agent with a deployed version granted ``payments.refund`` under the demo's
policy, its key, the two support managers, and SDK clients with short timeouts."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from actions.demo import REFUND_POLICY, ensure_support_managers
from actions.services import policy_version_create
from tests.actions.conftest import grant_deployed
from tests.factories import ToolFactory
from tests.loopback_targets import loopback_outbound_allowed  # noqa: F401 - webhook receivers on 127.0.0.1


@pytest.fixture
def live_server(live_server):
    """pytest-django's live server, warmed: its first request loads the URLconf and the API,
    which on a loaded machine can take longer than the short timeouts these tests use."""
    import httpx

    httpx.get(f"{live_server.url}/api/v1/agent/whoami/", timeout=120)
    return live_server


@pytest.fixture
def gate_ready(reseeded, agent, board_user):
    """``agent``'s deployed version holds ``payments.refund`` under the demo policy (allow ≤ 50
    for standard/pro, deny ≤ 0, two support managers above 50); answers the support managers."""
    import importlib

    from django.apps import apps

    importlib.import_module("actions.migrations.0002_permissions_and_schedules").seed(apps, None)
    managers = list(ensure_support_managers(password="pw").user_set.order_by("username"))
    tool = ToolFactory(name="payments.refund", system="Stripe", action_tier=3)
    grant_deployed(agent, tool)
    policy_version_create(tool=tool, actor=board_user, **REFUND_POLICY)
    return managers


@pytest.fixture
def sdk_client(live_server, agent_key):
    """A ``QuorumClient`` acting as ``agent`` against the live server, quick to give up."""
    from quorum_sdk import QuorumClient, RetryPolicy

    client = QuorumClient(
        live_server.url,
        agent_key,
        timeout=30,
        retry=RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2),
        controls_max_staleness=1.0,
        controls_refresh_interval=0.1,
    )
    yield client
    client.close()


def in_thread(fn, *args, delay: float = 0.0, **kwargs) -> threading.Thread:
    """Run ``fn`` in a thread (with its own database connection, closed at the end), e.g.
    people deciding while the agent's gate waits."""

    def target():
        import time

        time.sleep(delay)
        try:
            fn(*args, **kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def decide_when_pending(agent, people, verdict: str = "approve", *, timeout: float = 20.0) -> threading.Thread:
    """In a thread: wait for the agent's pending action request, then have each of ``people``
    decide it through the approvals engine (as the approvals queue does)."""
    import time

    def decide():
        from actions.models import ActionRequest
        from approvals.services import decision_record

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            action = (
                ActionRequest.objects.filter(agent=agent, status="pending").select_related("approval_request").first()
            )
            if action is not None:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no pending action request appeared")
        time.sleep(0.3)  # the agent is waiting (polling) by now
        req = action.approval_request
        for person in people:
            decision_record(
                request_id=req.pk, approver=person, verdict=verdict, reason="checked", payload_hash=req.payload_hash
            )

    return in_thread(decide)
