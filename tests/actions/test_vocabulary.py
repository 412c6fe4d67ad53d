"""One word per state across the console: an action people approved is "Applied" in Actions, as
its approval request is in Approvals; a waiting one is "Pending" in both. Stored values and the
API's enums stay as they are."""

from __future__ import annotations

import re

import pytest

from actions.choices import ActionStatus
from approvals import services as engine
from approvals.choices import RequestStatus
from approvals.models import ApprovalRequest

from .conftest import refund

pytestmark = pytest.mark.django_db


def _status_badges(html: str, testid: str) -> list[str]:
    return re.findall(rf'data-testid="{testid}"[^>]*>([^<]+)<', html)


def test_it_names_each_state_with_the_approvals_word(client, agent_client, refund_policy, support_managers):
    body = refund(agent_client, key="v-1", amount_usd=120, customer_tier="standard").json()
    req = ApprovalRequest.objects.get(action_request__pk=body["id"])
    client.force_login(support_managers[0])

    actions_page = client.get("/actions/").content.decode()
    request_page = client.get(req.get_absolute_url()).content.decode()
    assert _status_badges(actions_page, "action-status") == ["Pending"]
    assert _status_badges(request_page, "request-status") == ["Pending"]

    for manager in support_managers:
        engine.decision_record(
            request_id=req.pk,
            approver=manager,
            verdict="approve",
            reason="Order returned.",
            payload_hash=req.payload_hash,
        )

    actions_page = client.get("/actions/").content.decode()
    action_page = client.get(f"/actions/requests/{body['id']}/").content.decode()
    request_page = client.get(req.get_absolute_url()).content.decode()
    assert _status_badges(actions_page, "action-status") == ["Applied"]
    assert _status_badges(action_page, "action-status") == ["Applied"]
    assert _status_badges(request_page, "request-status") == ["Applied"]
    assert ActionStatus.APPROVED.label == RequestStatus.APPLIED.label
    assert ActionStatus.PENDING.label == RequestStatus.PENDING.label
    # the filter offers the same words
    assert '<option value="approved">Applied</option>' in actions_page


def test_the_api_keeps_its_values(agent_client, refund_policy, support_managers):
    body = refund(agent_client, key="v-2", amount_usd=120, customer_tier="standard").json()
    assert body["status"] == "pending"
