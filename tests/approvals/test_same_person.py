"""Issue 20 item 4 (one person) and item 5 (deactivation) in the two-person rule.

* Two accounts that share an e-mail address, an identity-provider subject or a passkey cannot
  make up a two-person approval; a third, distinct person can.
* A deactivated approver decides nothing any more, and their approval of a still-open request no
  longer counts: the request stays open and needs another decider."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from approvals import services
from approvals.exceptions import DecisionRefused
from registry.assurance import Assurance
from tests.approvals.conftest import make_approver

pytestmark = pytest.mark.django_db


def _approve(req, user, assurance=None):
    kwargs = {"assurance": assurance} if assurance else {}
    return services.decision_record(
        request_id=req.pk, approver=user, verdict="approve", reason="ok", payload_hash=req.payload_hash, **kwargs
    )


def _status(req) -> str:
    req.refresh_from_db()
    return req.status


def test_two_accounts_with_one_email_are_one_person(grant_request, approver_a, approver_c):
    alias = make_approver("alice-second-account")
    alias.email = approver_a.email.upper()  # same address, other case
    alias.save()
    _approve(grant_request, approver_a)
    _approve(grant_request, alias)
    assert _status(grant_request) == "pending"
    tally = services.approvals_tally(grant_request)
    assert tally.count == 1 and "count as one person" in tally.summary
    _approve(grant_request, approver_c)
    assert _status(grant_request) == "applied"


@pytest.mark.parametrize(
    "shared",
    [
        {"method": "webauthn", "mfa": True, "credential": "ab" * 32},
        {"method": "oidc", "subject": "00u1abcd"},
    ],
    ids=["passkey", "idp-subject"],
)
def test_two_accounts_with_one_passkey_or_idp_subject_are_one_person(grant_request, approver_a, approver_b, shared):
    assurance = Assurance(authenticated_at=datetime.now(UTC), **shared)
    _approve(grant_request, approver_a, assurance)
    _approve(grant_request, approver_b, assurance)
    assert _status(grant_request) == "pending"
    assert services.approvals_tally(grant_request).count == 1


def test_distinct_people_still_make_two(grant_request, approver_a, approver_b):
    now = datetime.now(UTC)
    for approver, credential in ((approver_a, "1" * 64), (approver_b, "2" * 64)):
        _approve(
            grant_request, approver, Assurance(method="webauthn", authenticated_at=now, mfa=True, credential=credential)
        )
    assert _status(grant_request) == "applied"


def test_a_deactivated_approver_no_longer_counts_and_cannot_decide(grant_request, approver_a, approver_b, approver_c):
    _approve(grant_request, approver_a)
    approver_a.is_active = False
    approver_a.save()
    tally = services.approvals_tally(grant_request)
    assert tally.count == 0 and "no longer counts (account deactivated)" in tally.summary
    approver_b.is_active = False
    approver_b.save()
    with pytest.raises(DecisionRefused):
        _approve(grant_request, approver_b)
    _approve(grant_request, approver_c)
    assert _status(grant_request) == "pending"  # one active approval of two: still needs another


def test_an_identity_provider_link_ties_two_accounts(grant_request, approver_a, approver_b, approver_c):
    """approver_b's account is linked to the IdP account that verified approver_a's address, and
    approver_c signed in with the IdP subject linked to approver_a's account."""
    from registry.models import ExternalIdentity

    ExternalIdentity.objects.create(
        user=approver_b,
        provider="oidc",
        issuer="https://idp.test",
        subject="u-b",
        email=approver_a.email,
        email_verified=True,
    )
    _approve(grant_request, approver_a)
    _approve(grant_request, approver_b)
    assert _status(grant_request) == "pending" and services.approvals_tally(grant_request).count == 1

    ExternalIdentity.objects.create(user=approver_a, provider="oidc", issuer="https://idp.test", subject="u-a")
    other = services.change_request_create(
        agent=grant_request.agent,
        kind="retirement",
        payload={},
        requester=grant_request.requester,
        justification="x",
    )
    _approve(other, approver_a)
    idp = Assurance(method="oidc", authenticated_at=datetime.now(UTC), subject="https://idp.test|u-a")
    _approve(other, approver_c, idp)
    assert services.approvals_tally(other).count == 1
