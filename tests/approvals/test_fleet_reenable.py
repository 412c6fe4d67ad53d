"""Issue 13, item 4: re-enabling side effects for the whole fleet is a request without an agent,
under the two-person rule, started from the fleet kill-switch page."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from approvals.choices import RequestStatus
from approvals.exceptions import DecisionRefused, RequestRefused
from approvals.kinds import kind_get
from approvals.models import ApprovalRequest
from approvals.services import change_request_create, decision_record
from registry.governance import FLEET_REENABLE
from registry.models import GlobalControls
from registry.services import global_controls_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet_off(operator_user):
    global_controls_set(side_effects_enabled=False, actor=operator_user, reason="incident")


def _ask(requester):
    return change_request_create(
        agent=None, kind=FLEET_REENABLE, payload={}, requester=requester, justification="Incident resolved."
    )


def _approve(req, user):
    return decision_record(
        request_id=req.pk, approver=user, verdict="approve", reason="checked", payload_hash=req.payload_hash
    )


def test_the_fleet_comes_back_on_only_after_two_people_other_than_the_requester(
    fleet_off, operator_user, approver_a, approver_b, board_member
):
    req = _ask(operator_user)
    assert req.agent is None
    assert req.policy_snapshot["required_approvals"] >= 2
    assert kind_get(FLEET_REENABLE).min_approvals >= 2
    with pytest.raises(DecisionRefused):
        _approve(req, operator_user)
    _approve(req, approver_a)
    assert GlobalControls.load().side_effects_enabled is False
    _approve(req, board_member)  # tier-1 policy: one of the two from the governance board
    req.refresh_from_db()
    assert req.status == RequestStatus.APPLIED
    assert GlobalControls.load().side_effects_enabled is True


def test_one_open_fleet_request_at_a_time(fleet_off, operator_user):
    _ask(operator_user)
    with pytest.raises(RequestRefused):
        _ask(operator_user)
    assert ApprovalRequest.objects.filter(kind=FLEET_REENABLE).count() == 1


def test_nothing_to_ask_while_the_fleet_is_on_and_only_operators_may_ask(operator_user, owner_user, fleet_off):
    with pytest.raises(RequestRefused):
        _ask(owner_user)
    global_controls_set(side_effects_enabled=True, actor=operator_user)
    with pytest.raises(ValidationError):
        _ask(operator_user)


def test_the_fleet_page_offers_request_re_enable_and_the_request_page_shows_the_fleet(
    fleet_off, operator_user, approver_a, client
):
    client.force_login(operator_user)
    page = client.get("/incidents/kill-switch/fleet/").content.decode()
    assert 'data-testid="fleet-reenable-request"' in page
    response = client.post("/incidents/kill-switch/fleet/reenable/", {"justification": "Incident resolved."})
    req = ApprovalRequest.objects.get(kind=FLEET_REENABLE)
    assert response.status_code == 302 and response["Location"] == req.get_absolute_url()
    assert GlobalControls.load().side_effects_enabled is False
    client.force_login(approver_a)
    detail = client.get(req.get_absolute_url())
    assert detail.status_code == 200
    assert "the whole fleet" in detail.content.decode()
    assert "the whole fleet" in client.get("/approvals/").content.decode()


def test_the_change_request_api_lists_a_fleet_request_with_no_agent(fleet_off, operator_user, board_user):
    from tests.approvals.test_api import token_client

    req = _ask(operator_user)
    response = token_client(board_user).get(f"/api/v1/change-requests/{req.pk}/")
    assert response.status_code == 200
    assert response.json()["agent"] is None
    listed = token_client(board_user).get("/api/v1/change-requests/?kind=fleet_reenable").json()
    assert [r["id"] for r in listed["results"]] == [req.pk]


def test_a_superuser_alone_turns_the_fleet_back_on_only_by_breaking_the_glass(fleet_off, operator_user):
    from approvals.break_glass import BREAK_GLASS_REVIEW, break_glass_apply
    from tests.factories import UserFactory

    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    req = _ask(operator_user)
    review = break_glass_apply(request_id=req.pk, actor=root, reason="Payments down for every customer.")
    assert GlobalControls.load().side_effects_enabled is True
    assert review.kind == BREAK_GLASS_REVIEW and review.agent is None
    assert review.status == RequestStatus.PENDING
