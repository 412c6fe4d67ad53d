"""The two-person rule in real Chromium: a tool grant on a tier-2 agent, from request to agent card."""

from pathlib import Path

import pytest

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def tier2_agent_with_deployed_version(reseeded):
    from guardian.shortcuts import assign_perm

    from registry import roles
    from registry.choices import VersionState
    from registry.services import agent_grant_owner_rights
    from tests.factories import AgentFactory, AgentVersionFactory, TeamFactory, ToolFactory, UserFactory

    owner = UserFactory(username="olivia", first_name="Olivia", last_name="Owens", roles=[roles.AGENT_OWNER])
    team = TeamFactory(slug="customer-support", name="Customer Support")
    team.members.add(owner)
    agent = AgentFactory(slug="support-triage", name="Support Triage", owner=owner, owner_team=team, risk_tier=2)
    agent_grant_owner_rights(agent=agent)
    version = AgentVersionFactory(agent=agent, label="1.0")
    version.state = VersionState.DEPLOYED
    version.save()
    ToolFactory(name="payments.refund", system="Stripe", action_tier=3)
    for username, first in (("alan", "Alan"), ("katherine", "Katherine")):
        user = UserFactory(username=username, first_name=first, last_name="Approver", roles=[roles.APPROVER])
        assign_perm("registry.approve_agent", user)
    return agent


def _approve(page, reason: str) -> None:
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Approve").click()


def test_a_tool_grant_on_a_tier_2_agent_needs_two_approvers(new_page, tier2_agent_with_deployed_version):
    # The requester asks for the grant from the agent card.
    requester = new_page()
    browser_login(requester, "olivia")
    requester.goto("/agents/support-triage/")
    requester.get_by_role("link", name="Tool grant or scope expansion").click()
    requester.get_by_label("Tool").select_option("payments.refund")
    requester.get_by_label("Constraints").fill('{"max_amount_usd": 50}')
    requester.get_by_label("Justification").fill("Refunds under 50 USD without a human in the loop.")
    requester.get_by_role("button", name="Submit for approval").click()
    requester.wait_for_url("**/approvals/*/")
    request_url = requester.url
    assert requester.get_by_test_id("request-status").inner_text() == "Pending"
    assert "0 of 2 approvals" in requester.get_by_test_id("tally").inner_text()
    assert "payments.refund" in requester.get_by_test_id("request-diff").inner_text()

    # Approver A sees it waiting (nav badge), approves; the page updates inline to "1 of 2".
    a = new_page()
    browser_login(a, "alan")
    assert a.get_by_test_id("nav-badge-approvals").inner_text() == "1"
    a.get_by_role("link", name="Approvals").click()
    a.get_by_test_id("awaiting-table").get_by_role("link", name="#").first.click()
    _approve(a, "Limit of 50 USD is sane.")
    tally = a.get_by_test_id("tally")
    tally.filter(has_text="1 of 2 approvals").wait_for()
    assert "approved by Alan Approver" in tally.inner_text()
    assert a.get_by_test_id("request-status").inner_text() == "Pending"

    # Approver B, in a second browser context, approves: the grant is applied.
    b = new_page()
    browser_login(b, "katherine")
    b.goto(request_url)
    assert "1 of 2 approvals" in b.get_by_test_id("tally").inner_text()
    _approve(b, "Agreed; Stripe limits match.")
    b.get_by_test_id("request-status").filter(has_text="Applied").wait_for()
    assert "2 of 2 approvals" in b.get_by_test_id("tally").inner_text()

    # The grant appears on the agent card (the deployed version's tools).
    b.goto("/agents/support-triage/")
    tools = b.get_by_test_id("agent-tools").inner_text()
    assert "payments.refund" in tools and "max_amount_usd" in tools

    # The requester sees "applied", and the timeline tells the story.
    requester.goto(request_url)
    assert requester.get_by_test_id("request-status").inner_text() == "Applied"
    timeline = requester.get_by_test_id("timeline").inner_text()
    assert "Alan Approver approved" in timeline and "Katherine Approver approved" in timeline
    assert "applied the change" in timeline
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    requester.screenshot(path=str(SCREENSHOTS / "approval-request.png"), full_page=True)


def test_a_missing_reason_is_refused_inline_and_without_javascript(new_page, tier2_agent_with_deployed_version):
    from django.contrib.auth import get_user_model

    from approvals.services import change_request_create

    agent = tier2_agent_with_deployed_version
    req = change_request_create(
        agent=agent,
        kind="tool_grant",
        payload={"tool": "payments.refund"},
        requester=get_user_model().objects.get(username="olivia"),
        justification="x",
    )
    page = new_page()
    browser_login(page, "alan")
    page.goto(f"/approvals/{req.pk}/")
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("A reason is required.").wait_for()
    assert "0 of 2 approvals" in page.get_by_test_id("tally").inner_text()
