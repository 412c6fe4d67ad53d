"""A governance board member finds a tier-1 agent in real Chromium.

The screenshots it takes are the ones in the README, so they stay true."""

from pathlib import Path

import pytest

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def demo_registry(db):
    from django.contrib.auth import get_user_model

    from registry.demo import seed_registry

    seed_registry()
    board = get_user_model().objects.get(username="board")
    board.set_password("pw")
    board.save()
    return board


def test_board_member_filters_to_tier_1_and_opens_an_agent_card(new_page, demo_registry):
    page = new_page()
    browser_login(page, "board")
    page.get_by_role("link", name="Agents").click()
    page.get_by_label("Tier").select_option("1")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**risk_tier=1**")
    rows = page.get_by_test_id("agent-table").locator("tbody tr")
    tiers = rows.locator("td:nth-child(2)").all_inner_texts()
    assert tiers and all(t.strip() == "Tier 1" for t in tiers)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "registry.png"), full_page=True)

    page.get_by_role("link", name="Customer Support Triage").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Customer Support Triage")
    assert "Olivia Owens" in page.get_by_test_id("agent-owner").inner_text()
    assert page.get_by_test_id("agent-tier").inner_text() == "Tier 1"
    tools = page.get_by_test_id("agent-tools").inner_text()
    assert "payments.refund" in tools and "3 — high-risk write" in tools
    page.screenshot(path=str(SCREENSHOTS / "agent-card.png"), full_page=True)
