"""The pages: queue, request page, inline actions with and without HTMX, starting requests."""

from __future__ import annotations

import pytest

from approvals.models import ApprovalRequest, Decision
from registry import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def post_decision(client, req, htmx=False, **data):
    body = {"verdict": "approve", "reason": "Checked.", "payload_hash": req.payload_hash, **data}
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/approvals/{req.pk}/decide/", body, headers=headers)


def test_anonymous_is_sent_to_login(client, grant_request):
    for url in ("/approvals/", f"/approvals/{grant_request.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url


def test_the_queue_shows_awaiting_mine_and_history(client, grant_request, approver_a, owner_user):
    client.force_login(approver_a)
    page = client.get("/approvals/").content.decode()
    assert 'data-testid="awaiting-count">1<' in page
    assert 'data-testid="nav-badge-approvals">1<' in page
    client.force_login(owner_user)
    page = client.get("/approvals/").content.decode()
    assert 'data-testid="awaiting-count">0<' in page and f"/approvals/{grant_request.pk}/" in page


def test_the_request_page_shows_diff_checklist_and_tally(client, grant_request, approver_a):
    client.force_login(approver_a)
    page = client.get(f"/approvals/{grant_request.pk}/").content.decode()
    assert "0 of 2 approvals" in page and "payments.refund" in page and "1.0+g1" in page
    assert 'data-testid="decision-form"' in page


def test_approving_without_javascript_redirects_and_records(client, grant_request, approver_a):
    client.force_login(approver_a)
    response = post_decision(client, grant_request)
    assert response.status_code == 302 and response.url == f"/approvals/{grant_request.pk}/"
    page = client.get(response.url).content.decode()
    assert "1 of 2 approvals — approved by" in page


def test_approving_with_htmx_returns_the_fragment(client, grant_request, approver_a):
    client.force_login(approver_a)
    response = post_decision(client, grant_request, htmx=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="request-live"') and "1 of 2 approvals" in body
    assert "<html" not in body and "HX-Request" in response["Vary"]


@pytest.mark.parametrize("htmx", [False, True])
def test_a_missing_reason_is_refused_and_changes_nothing(client, grant_request, approver_a, htmx):
    client.force_login(approver_a)
    response = post_decision(client, grant_request, htmx=htmx, reason="  ")
    assert response.status_code == 400
    assert "A reason is required." in response.content.decode()
    assert Decision.objects.count() == 0


def test_a_stale_payload_hash_is_refused(client, grant_request, approver_a):
    client.force_login(approver_a)
    response = post_decision(client, grant_request, payload_hash="a" * 64)
    assert response.status_code == 409
    assert "The payload changed since you loaded it" in response.content.decode()
    assert Decision.objects.count() == 0


def test_a_malformed_payload_hash_is_refused(client, grant_request, approver_a):
    client.force_login(approver_a)
    response = post_decision(client, grant_request, payload_hash="nope")
    assert response.status_code == 400 and "reload the page" in response.content.decode()
    assert Decision.objects.count() == 0


def test_an_already_decided_request_is_refused(client, grant_request, approver_a, approver_b, approver_c):
    for user in (approver_a, approver_b):
        client.force_login(user)
        post_decision(client, grant_request)
    client.force_login(approver_c)
    response = post_decision(client, grant_request)
    assert response.status_code == 409
    assert "already decided (applied)" in response.content.decode()
    assert Decision.objects.count() == 2


def test_an_unknown_request_is_404(client, approver_a):
    client.force_login(approver_a)
    assert client.post("/approvals/999999/decide/", {"verdict": "approve", "reason": "x"}).status_code == 404
    assert client.get("/approvals/999999/").status_code == 404


def test_self_approval_through_the_view_is_403(client, grant_request, owner_user):
    client.force_login(owner_user)
    response = post_decision(client, grant_request)
    assert response.status_code == 403 and "someone else must decide" in response.content.decode()
    assert Decision.objects.count() == 0


def test_a_request_on_an_agent_i_cannot_see_is_404(client, grant_request):
    stranger = UserFactory(username="stranger")  # no role: sees no agents
    client.force_login(stranger)
    assert client.get(f"/approvals/{grant_request.pk}/").status_code == 404
    assert post_decision(client, grant_request).status_code == 404


def test_ticking_needs_evidence(client, agent, owner_user, approver_a):
    from approvals.services import change_request_create
    from tests.factories import AgentVersionFactory

    AgentVersionFactory(agent=agent, label="2.0")
    req = change_request_create(
        agent=agent, kind="new_version", payload={"version": "2.0"}, requester=owner_user, justification="x"
    )
    client.force_login(approver_a)
    response = client.post(f"/approvals/{req.pk}/checklist/privacy/tick/", {"evidence": ""})
    assert response.status_code == 400 and "Evidence is required" in response.content.decode()
    response = client.post(f"/approvals/{req.pk}/checklist/privacy/tick/", {"evidence": "https://wiki/dpia-7"})
    assert response.status_code == 302
    assert req.checklist.get(key="privacy").done


def test_starting_a_request_from_the_agent_card(client, agent, deployed, refund_tool, owner_user):
    client.force_login(owner_user)
    card = client.get(f"/agents/{agent.slug}/").content.decode()
    assert f"/approvals/new/{agent.slug}/tool_grant/" in card
    url = f"/approvals/new/{agent.slug}/tool_grant/"
    bad = client.post(url, {"tool": "payments.refund", "constraints": "{not json", "justification": "x"})
    assert bad.status_code == 400 and "Not valid JSON" in bad.content.decode()
    assert ApprovalRequest.objects.count() == 0
    ok = client.post(url, {"tool": "payments.refund", "constraints": '{"max_amount_usd": 50}', "justification": "x"})
    req = ApprovalRequest.objects.get()
    assert ok.status_code == 302 and ok.url == f"/approvals/{req.pk}/"
    assert req.payload["constraints"] == {"max_amount_usd": 50}


def test_someone_without_rights_cannot_start_a_request(client, agent, other_owner_user):
    client.force_login(other_owner_user)
    assert client.get(f"/approvals/new/{agent.slug}/retirement/").status_code == 403
    assert client.get(f"/approvals/new/{agent.slug}/warp/").status_code == 404


def test_the_requester_withdraws(client, grant_request, owner_user, approver_a):
    client.force_login(approver_a)
    assert client.post(f"/approvals/{grant_request.pk}/withdraw/").status_code == 403
    client.force_login(owner_user)
    assert client.post(f"/approvals/{grant_request.pk}/withdraw/").status_code == 302
    grant_request.refresh_from_db()
    assert grant_request.status == "withdrawn"


def test_the_home_panel_lists_what_awaits_me(client, grant_request, approver_a):
    client.force_login(approver_a)
    page = client.get("/").content.decode()
    assert "Awaiting my decision" in page and 'data-testid="home-awaiting-count">1<' in page


def test_the_admin_cannot_change_or_delete_decisions(client, grant_request, approver_a):
    from approvals.services import decision_record

    d = decision_record(
        request_id=grant_request.pk,
        approver=approver_a,
        verdict="approve",
        reason="ok",
        payload_hash=grant_request.payload_hash,
    )
    admin = UserFactory(username="root", roles=[roles.GOVERNANCE_BOARD])
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    assert client.get(f"/admin/approvals/decision/{d.pk}/change/").status_code == 200  # view only
    response = client.post(f"/admin/approvals/decision/{d.pk}/change/", {"reason": "rewritten"})
    assert response.status_code == 403
    assert client.post(f"/admin/approvals/decision/{d.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/approvals/decision/add/").status_code == 403
    assert Decision.objects.get(pk=d.pk).reason == "ok"
