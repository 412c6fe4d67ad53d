"""The agent's webhook: one signed call when a pending action is decided, retried with backoff."""

from __future__ import annotations

import json
import time

import pytest

from actions.models import ActionRequest
from actions.services import gate_settings_update, webhook_deliver
from approvals.models import ApprovalRequest
from approvals.services import decision_record

from .conftest import grant_deployed, refund
from .receiver import Receiver


def _approve_all(req, users):
    for user in users:
        decision_record(request_id=req.pk, approver=user, verdict="approve", reason="ok", payload_hash=req.payload_hash)


@pytest.mark.django_db(transaction=True)
def test_it_calls_the_webhook_once_signed_when_people_decide(gate_reseeded, agent, agent_key, support_managers):
    from rest_framework.test import APIClient

    from actions.demo import REFUND_POLICY
    from actions.services import policy_version_create
    from tests.factories import ToolFactory

    tool = ToolFactory(name="payments.refund", action_tier=3)
    grant_deployed(agent, tool)
    policy_version_create(tool=tool, **REFUND_POLICY)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
    with Receiver() as receiver:
        gate = gate_settings_update(agent=agent, webhook_url=receiver.url)
        allowed = refund(client, key="small", amount_usd=10, customer_tier="pro").json()
        body = refund(client, key="big", amount_usd=120, customer_tier="pro").json()
        assert receiver.calls == []  # automatic answers are in the response; no webhook
        _approve_all(ApprovalRequest.objects.get(), support_managers)
        assert receiver.got.wait(10)
        assert len(receiver.calls) == 1
        assert receiver.signed_correctly(0, gate.webhook_secret)
        headers, raw = receiver.calls[0]
        payload = json.loads(raw)
        assert payload["event"] == "action_request.decided"
        assert payload["action_request"]["id"] == body["id"] != allowed["id"]
        assert payload["action_request"]["status"] == "approved"
        assert headers["X-Quorum-Delivery"] == body["id"]
        assert not receiver.signed_correctly(0, "another-secret")
        # Delivered once: running the task again (a redelivery) calls nobody.
        assert webhook_deliver(action_request_id=body["id"]) == "skipped"
        assert len(receiver.calls) == 1
        assert ActionRequest.objects.get(pk=body["id"]).webhook_delivered_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_is_retried_by_the_worker_with_backoff(
    gate_reseeded, agent, agent_key, support_managers, celery_worker_process
):
    """GIVEN a receiver that answers 503 twice, WHEN a pending action is decided, THEN the real
    worker retries (backoff) until the third call succeeds, and records three attempts."""
    from rest_framework.test import APIClient

    from actions.demo import REFUND_POLICY
    from actions.services import policy_version_create
    from config.celery import app
    from tests.factories import ToolFactory

    app.conf.task_always_eager = False
    tool = ToolFactory(name="payments.refund", action_tier=3)
    grant_deployed(agent, tool)
    policy_version_create(tool=tool, **REFUND_POLICY)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
    with Receiver(codes=(503, 503, 200)) as receiver:
        gate = gate_settings_update(agent=agent, webhook_url=receiver.url)
        body = refund(client, key="big", amount_usd=120, customer_tier="pro").json()
        _approve_all(ApprovalRequest.objects.get(), support_managers)
        assert receiver.got.wait(45), f"calls so far: {len(receiver.calls)}"
        deadline = time.monotonic() + 10
        while ActionRequest.objects.get(pk=body["id"]).webhook_delivered_at is None and time.monotonic() < deadline:
            time.sleep(0.2)
        action = ActionRequest.objects.get(pk=body["id"])
        assert len(receiver.calls) == 3
        assert all(receiver.signed_correctly(i, gate.webhook_secret) for i in range(3))
        assert action.webhook_attempts == 3
        assert action.webhook_delivered_at is not None
