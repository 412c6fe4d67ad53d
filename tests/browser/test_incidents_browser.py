"""An operator pulls the kill switch, writes and publishes the postmortem, and closes the incident,
in real Chromium."""

from pathlib import Path

import pytest

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(autouse=True)
def incident_roles(reseeded):
    """An earlier transactional test's flush removed what data migrations made; put back the role
    groups (``reseeded``) and the incident permissions of each role."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from incidents.roles import ROLE_PERMISSIONS

    # The flush recreated content types under new ids; the process-wide cache still has the old ones.
    ContentType.objects.clear_cache()

    for role, perms in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        for dotted in perms:
            app_label, codename = dotted.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def test_operator_pulls_the_kill_switch_writes_the_postmortem_and_closes(new_page, agent, operator_user):
    from incidents.models import Incident

    page = new_page()
    browser_login(page, "operator")
    page.goto(agent.get_absolute_url())

    # one click, with a reason
    form = page.get_by_test_id("kill-switch-form")
    form.get_by_label("Reason").fill("Refunds are being issued twice")
    form.get_by_label("Failure mode (if known)").select_option("tool_outage")
    form.get_by_role("button", name="Pull kill switch").click()
    page.wait_for_url(f"**{agent.get_absolute_url()}**")
    assert "disabled" in page.get_by_test_id("side-effects").inner_text()
    assert page.get_by_test_id("kill-switch-state").is_visible()
    active = page.get_by_test_id("active-incident")
    assert "Kill switch pulled on Support Triage" in active.inner_text() and "SEV2" in active.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "incidents-agent-card.png"), full_page=True)

    # resolve it inline (HTMX): the timeline updates without a page load
    active.get_by_role("link").click()
    page.wait_for_url("**/incidents/*/")
    resolve = page.get_by_test_id("transition-resolved")
    resolve.get_by_label("Note for “Resolve”").fill("Refund tool fixed upstream")
    resolve.get_by_role("button", name="Resolve").click()
    page.get_by_test_id("close-blockers").wait_for()
    assert "Resolved" in page.get_by_test_id("incident-status").inner_text()
    assert "Refund tool fixed upstream" in page.get_by_test_id("incident-timeline").inner_text()
    assert "postmortem" in page.get_by_test_id("close-blockers").inner_text()

    # write the postmortem with one action item, then publish it
    page.get_by_test_id("postmortem-link").click()
    page.get_by_label("Summary").fill("The refund tool retried on timeouts and refunded twice.")
    page.get_by_label("Impact").fill("14 customers refunded twice, 1,120 USD.")
    page.get_by_label("Root cause").fill("payments.refund was not idempotent.")
    page.get_by_role("button", name="Save draft").click()
    item_form = page.get_by_test_id("action-item-form")
    item_form.get_by_label("Action item").fill("Send an idempotency key with every refund")
    item_form.get_by_label("Owner").select_option(label="operator")
    item_form.get_by_label("Due").fill("2031-01-15")
    item_form.get_by_role("button", name="Add item").click()
    page.get_by_test_id("action-item-row").wait_for()
    assert "Send an idempotency key" in page.get_by_test_id("action-items").inner_text()
    page.get_by_role("button", name="Save and publish").click()
    page.get_by_text("Postmortem published.").wait_for()
    assert "published" in page.get_by_test_id("postmortem-state").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "incidents-postmortem.png"), full_page=True)

    # now the incident can be closed
    page.get_by_role("link", name=Incident.objects.get().reference).click()
    close = page.get_by_test_id("transition-closed")
    close.get_by_label("Note for “Close”").fill("Postmortem published, action item owned")
    close.get_by_role("button", name="Close").click()
    page.get_by_test_id("incident-status").filter(has_text="Closed").wait_for()
    incident = Incident.objects.get()
    assert incident.status == "closed" and incident.postmortem.is_published
    assert incident.postmortem.action_items.get().owner == operator_user
