"""The runtime action gate end to end in Chromium: an agent asks to refund 120 USD to a
standard-tier customer, two support managers approve in the console (two browser contexts),
the agent's next poll says approved, and its webhook got exactly one signed call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.actions.receiver import Receiver
from tests.conftest import browser_login
from tests.loopback_targets import loopback_outbound_allowed  # noqa: F401 - the receiver is on 127.0.0.1

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def gate_world(reseeded):
    import importlib

    from django.apps import apps

    from actions.demo import REFUND_POLICY, ensure_support_managers
    from actions.services import policy_version_create
    from config.celery import app
    from registry.services import agent_key_issue
    from tests.actions.conftest import grant_deployed
    from tests.factories import AgentFactory, TeamFactory, ToolFactory, UserFactory

    importlib.import_module("actions.migrations.0002_permissions_and_schedules").seed(apps, None)
    ensure_support_managers(password="pw")
    owner = UserFactory(username="olivia")
    agent = AgentFactory(
        slug="support-triage", name="Support Triage", owner=owner, owner_team=TeamFactory(), risk_tier=1
    )
    tool = ToolFactory(name="payments.refund", system="Stripe", action_tier=3)
    grant_deployed(agent, tool)  # the gate refuses tools the deployed version was not granted
    policy_version_create(tool=tool, **REFUND_POLICY)
    _key, secret = agent_key_issue(agent=agent, name="browser test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    # The live server runs the webhook task in-process (no worker in this test).
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield agent, client
    app.conf.task_always_eager = previous


def _approve(page, request_url: str, reason: str) -> None:
    page.goto(request_url)
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Approve").click()


def test_two_support_managers_approve_a_120_usd_refund(new_page, gate_world):
    from actions.services import gate_settings_update

    agent, client = gate_world
    with Receiver() as receiver:
        gate = gate_settings_update(agent=agent, webhook_url=receiver.url)
        asked = client.post(
            "/api/v1/action-requests/",
            {
                "tool": "payments.refund",
                "idempotency_key": "refund-ZD-88123",
                "parameters": {
                    "amount_usd": 120,
                    "customer_tier": "standard",
                    "order_id": "A-1001",
                    "card_number": "4111 1111 1111 1111",
                },
            },
            format="json",
        ).json()
        assert asked["status"] == "pending"
        assert asked["approval"]["required_approvals"] == 2

        first = new_page()
        browser_login(first, "support1")
        first.get_by_role("link", name="Approvals").click()
        row = first.get_by_test_id("awaiting-table").get_by_role("row").filter(has_text="Runtime action")
        row.get_by_role("link").first.click()
        first.wait_for_url("**/approvals/*/")
        request_url = first.url
        diff = first.get_by_test_id("request-diff").inner_text()
        assert "payments.refund" in diff and "120" in diff and "[redacted]" in diff
        assert "4111" not in diff
        assert 'require 2 approvals from "Support manager" if amount_usd > 50' in diff
        first.get_by_label("Reason").fill("Order A-1001 was returned; refund is due.")
        first.get_by_role("button", name="Approve").click()
        first.get_by_test_id("tally").filter(has_text="1 of 2 approvals").wait_for()
        assert client.get(f"/api/v1/action-requests/{asked['id']}/").json()["status"] == "pending"
        assert receiver.calls == []

        second = new_page()
        browser_login(second, "support2")
        _approve(second, request_url, "Checked the return in Shopify.")
        second.get_by_test_id("request-status").filter(has_text="Applied").wait_for()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        second.screenshot(path=str(SCREENSHOTS / "action-gate-approved.png"), full_page=True)

        poll = client.get(f"/api/v1/action-requests/{asked['id']}/").json()
        assert poll["status"] == "approved"
        assert poll["approval"]["approvals"] == 2
        assert receiver.got.wait(10)
        assert len(receiver.calls) == 1
        assert receiver.signed_correctly(0, gate.webhook_secret)
        assert json.loads(receiver.calls[0][1])["action_request"]["status"] == "approved"

        # The console's own page for the action shows the decision and the delivery.
        second.goto(f"/actions/requests/{asked['id']}/")
        assert "Approvers" in second.get_by_test_id("action-decision").inner_text()
        assert "[redacted]" in second.get_by_test_id("action-parameters").inner_text()
