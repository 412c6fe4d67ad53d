"""Issue 20 item 4: step-up and assurance on decisions.

* A tier-1 decision without a fresh multi-factor sign-in is refused, nothing is recorded, and the
  page offers the step-up; after verifying with an authenticator code it counts, and how the
  approver signed in is on the decision, the request page and the audit log.
* A kind that lowers a control, a runtime action above the amount, and break-glass need it too;
  a stale verification or a token (no assurance) does not do; an IdP's acr/amr does.
* Off (the demo's default), decisions need only the password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from approvals import services
from approvals.break_glass import break_glass_apply
from approvals.choices import RequestStatus
from approvals.exceptions import ApprovalError, DecisionRefused
from approvals.models import Decision
from registry.assurance import NO_ASSURANCE, Assurance
from registry.audit_chain import chain_verify
from registry.models import AuditEntry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STRONG_NOW = Assurance(method="totp", authenticated_at=datetime.now(UTC), mfa=True)


@pytest.fixture(autouse=True)
def _step_up_on(settings):
    settings.QUORUM_STEP_UP_REQUIRED = True
    settings.QUORUM_STEP_UP_MINUTES = 15


@pytest.fixture
def tier1_request(agent, deployed, refund_tool, owner_user):
    agent.risk_tier = 1
    agent.save()
    return services.change_request_create(
        agent=agent, kind="tool_grant", payload={"tool": "payments.refund"}, requester=owner_user, justification="x"
    )


def _password_client(user) -> Client:
    client = Client()
    assert client.post("/login/", {"username": user.username, "password": "pw"}).status_code == 302
    return client


def _code(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


def _decide(client, req):
    body = {"verdict": "approve", "reason": "Checked.", "payload_hash": req.payload_hash}
    return client.post(f"/approvals/{req.pk}/decide/", body)


def test_a_tier1_decision_without_a_fresh_second_factor_is_refused_and_offers_step_up(tier1_request, approver_a):
    client = _password_client(approver_a)
    page = client.get(f"/approvals/{tier1_request.pk}/").content.decode()
    assert 'data-testid="step-up-offer"' in page and "/account/verify/?next=" in page

    refused = _decide(client, tier1_request)
    assert refused.status_code == 403
    text = refused.content.decode()
    assert "tier-1 request needs a multi-factor sign-in" in text and 'data-testid="step-up-link"' in text
    assert not Decision.objects.filter(request=tier1_request).exists()

    # Step up: an authenticator code on the verify page, then straight back to the request.
    device = TOTPDevice.objects.create(user=approver_a, name="phone", confirmed=True)
    back = client.post("/account/verify/", {"code": _code(device), "next": f"/approvals/{tier1_request.pk}/"})
    assert back.status_code == 302 and back.url == f"/approvals/{tier1_request.pk}/"
    assert _decide(client, tier1_request).status_code == 302

    decision = Decision.objects.get(request=tier1_request)
    assert decision.auth_method == "totp" and decision.assurance_level == "aal2"
    assert decision.authenticated_at is not None
    page = client.get(f"/approvals/{tier1_request.pk}/").content.decode()
    assert "Signed in with totp" in page and "(multi-factor)" in page
    # auditlog keeps every field of the new decision row, the assurance with it.
    entry = LogEntry.objects.get(content_type=ContentType.objects.get_for_model(Decision), object_id=decision.pk)
    assert entry.changes_dict["assurance_level"][1] == "aal2"
    assert entry.changes_dict["auth_method"][1] == "totp"
    # ... and the tamper-evident chain carries the same assurance, hashed with the decision.
    chained = AuditEntry.objects.get(object_type="approvals.decision", object_id=str(decision.pk))
    assert chained.payload["auth_method"] == "totp" and chained.payload["assurance_level"] == "aal2"
    assert chained.payload["authenticated_at"]
    assert chain_verify().ok


def test_a_stale_verification_or_no_assurance_is_refused(tier1_request, approver_a, approver_b):
    stale = Assurance(method="totp", authenticated_at=datetime.now(UTC) - timedelta(minutes=16), mfa=True)
    for assurance, words in ((stale, "more than 15 minutes old"), (NO_ASSURANCE, "not verified with a second")):
        with pytest.raises(DecisionRefused) as exc:
            services.decision_record(
                request_id=tier1_request.pk,
                approver=approver_a,
                verdict="approve",
                reason="ok",
                payload_hash=tier1_request.payload_hash,
                assurance=assurance,
            )
        assert exc.value.code == "step_up_required" and words in exc.value.message
    assert not Decision.objects.exists()


def test_an_identity_providers_acr_counts_as_strong(tier1_request, approver_a, settings):
    settings.QUORUM_STRONG_ACR_VALUES = ["urn:okta:loa:2fa:any"]
    idp = Assurance(method="oidc", authenticated_at=datetime.now(UTC), acr="urn:okta:loa:2fa:any")
    decision = services.decision_record(
        request_id=tier1_request.pk,
        approver=approver_a,
        verdict="approve",
        reason="ok",
        payload_hash=tier1_request.payload_hash,
        assurance=idp,
    )
    assert decision.auth_method == "oidc" and decision.assurance_level == "aal2"


def test_lowering_a_control_needs_step_up_and_an_ordinary_tier2_change_does_not(
    agent, grant_request, owner_user, approver_a
):
    password = Assurance(method="password", authenticated_at=datetime.now(UTC))
    # tool_grant on the tier-2 agent: no step-up; the decision records a single-factor sign-in.
    decision = services.decision_record(
        request_id=grant_request.pk,
        approver=approver_a,
        verdict="approve",
        reason="ok",
        payload_hash=grant_request.payload_hash,
        assurance=password,
    )
    assert decision.assurance_level == "aal1" and decision.auth_method == "password"
    lowering = services.change_request_create(
        agent=agent, kind="tier_change", payload={"risk_tier": 3}, requester=owner_user, justification="Lower."
    )
    assert services.step_up_reason(lowering) == "Deciding a request that can lower a control"
    with pytest.raises(DecisionRefused, match="lower a control"):
        services.decision_record(
            request_id=lowering.pk,
            approver=approver_a,
            verdict="approve",
            reason="ok",
            payload_hash=lowering.payload_hash,
            assurance=password,
        )


def _runtime_action(agent, amount):
    return services.request_create(
        agent=agent,
        kind="runtime_action",
        payload={
            "action_request": "00000000-0000-0000-0000-000000000001",
            "tool": "payments.refund",
            "parameters": {"amount_usd": amount},
            "rule": "",
            "policy_version": None,
            "change_request": None,
        },
        justification="The agent asks.",
    )


def test_a_runtime_action_above_the_amount_needs_step_up(agent, settings):
    settings.QUORUM_STEP_UP_ACTION_AMOUNT_USD = 1000
    agent.risk_tier = 3
    agent.save()
    assert services.step_up_reason(_runtime_action(agent, 999)) is None
    big = _runtime_action(agent, 5000)
    assert "5000 USD (above 1000 USD)" in services.step_up_reason(big)
    assert services.step_up_reason(_runtime_action(agent, "not a number")) is None


def test_break_glass_needs_step_up(agent, owner_user):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    req = services.change_request_create(
        agent=agent, kind="tier_change", payload={"risk_tier": 3}, requester=owner_user, justification="Lower."
    )
    with pytest.raises(ApprovalError) as exc:
        break_glass_apply(request_id=req.pk, actor=root, reason="Outage.")
    assert exc.value.code == "step_up_required"
    req.refresh_from_db()
    assert req.status == RequestStatus.PENDING
    client = _password_client(root)
    page = client.get(f"/approvals/{req.pk}/break-glass/").content.decode()
    assert 'data-testid="step-up-offer"' in page
    break_glass_apply(request_id=req.pk, actor=root, reason="Outage.", assurance=STRONG_NOW)
    req.refresh_from_db()
    assert req.status == RequestStatus.APPLIED


def test_with_step_up_off_the_password_is_enough(tier1_request, approver_a, settings):
    settings.QUORUM_STEP_UP_REQUIRED = False
    client = _password_client(approver_a)
    assert 'data-testid="step-up-offer"' not in client.get(f"/approvals/{tier1_request.pk}/").content.decode()
    assert _decide(client, tier1_request).status_code == 302
    assert Decision.objects.get(request=tier1_request).auth_method == "password"
