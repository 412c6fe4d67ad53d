"""OpenID Connect sign-in against a real provider process (npm oidc-provider) on loopback."""

import pytest
from django.contrib.auth.models import User

from registry.assurance import current_assurance
from registry.models import ExternalIdentity, Team

from .idp_oidc import provider_sign_in

pytestmark = pytest.mark.django_db


def _sign_in(client, login: str):
    start = client.get("/sso/oidc/login/")
    assert start.status_code == 302
    assert "code_challenge=" in start["Location"] and "nonce=" in start["Location"]
    callback = provider_sign_in(start["Location"], login)
    return client.get(callback)


def test_first_sign_in_creates_user_with_mapped_role_and_team(client, oidc_settings, oidc_provider):
    Team.objects.create(slug="payments", name="Payments")
    oidc_provider.set_accounts(
        {"alice-1": {"email": "alice@example.com", "email_verified": True, "preferred_username": "alice",
                     "groups": ["quorum-approvers", "payments-team"]}}
    )  # fmt: skip
    answer = _sign_in(client, "alice-1")
    assert answer.status_code == 302 and answer["Location"] == "/"
    link = ExternalIdentity.objects.get(issuer=oidc_provider.issuer, subject="alice-1")
    user = link.user
    assert (user.username, user.email, link.email_verified, link.provider) == (
        "alice",
        "alice@example.com",
        True,
        "oidc",
    )
    assert list(user.groups.values_list("name", flat=True)) == ["Approver"]
    assert list(user.quorum_teams.values_list("slug", flat=True)) == ["payments"]
    home = client.get("/")
    assert home.status_code == 200 and home.wsgi_request.user == user
    assurance = current_assurance(home.wsgi_request)
    assert assurance.method == "oidc" and assurance.subject == f"{oidc_provider.issuer}|alice-1"


def test_role_and_team_removed_at_next_sign_in_and_audited(client, oidc_settings, oidc_provider):
    from auditlog.models import LogEntry

    payments = Team.objects.create(slug="payments", name="Payments")
    oidc_provider.set_accounts(
        {"bob-1": {"email": "bob@example.com", "email_verified": True, "groups": ["quorum-board", "payments-team"]}}
    )
    _sign_in(client, "bob-1")
    bob = ExternalIdentity.objects.get(subject="bob-1").user
    assert set(bob.groups.values_list("name", flat=True)) == {"Governance board"}
    client.logout()
    oidc_provider.set_accounts({"bob-1": {"email": "bob@example.com", "email_verified": True, "groups": []}})
    assert _sign_in(client, "bob-1").status_code == 302
    assert not bob.groups.exists()
    assert not payments.members.filter(pk=bob.pk).exists()
    removal = LogEntry.objects.get_for_object(bob).filter(
        changes__groups__type="m2m", changes__groups__operation="delete"
    )
    assert removal.exists()


def test_links_existing_account_by_verified_email_only(client, oidc_settings, oidc_provider):
    carol = User.objects.create_user("carol", email="carol@example.com", password="pw-carol-12345")
    oidc_provider.set_accounts({"carol-x": {"email": "Carol@example.com", "email_verified": False}})
    refused = _sign_in(client, "carol-x")
    assert refused.status_code == 403 and b"not verified your e-mail" in refused.content
    assert not ExternalIdentity.objects.filter(subject="carol-x").exists()
    assert User.objects.filter(email__iexact="carol@example.com").count() == 1
    oidc_provider.set_accounts({"carol-x": {"email": "Carol@example.com", "email_verified": True}})
    assert _sign_in(client, "carol-x").status_code == 302
    assert ExternalIdentity.objects.get(subject="carol-x").user == carol


def test_deactivated_user_cannot_sign_in(client, oidc_settings, oidc_provider):
    oidc_provider.set_accounts({"dave-1": {"email": "dave@example.com", "email_verified": True}})
    _sign_in(client, "dave-1")
    dave = ExternalIdentity.objects.get(subject="dave-1").user
    User.objects.filter(pk=dave.pk).update(is_active=False)
    # The live session ends at the next request...
    assert client.get("/").status_code == 302
    # ...and a new sign-in is refused.
    refused = _sign_in(client, "dave-1")
    assert refused.status_code == 403 and b"deactivated" in refused.content


def test_nonce_mismatch_refused(client, oidc_settings, oidc_provider):
    oidc_provider.set_accounts({"erin-1": {"email": "erin@example.com", "email_verified": True}})
    start = client.get("/sso/oidc/login/")
    session = client.session
    state = next(iter(session["oidc_states"]))
    session["oidc_states"][state]["nonce"] = "not-the-nonce-sent"
    session.save()
    answer = client.get(provider_sign_in(start["Location"], "erin-1"))
    assert answer.status_code == 403 and b"Nonce" in answer.content
    assert not ExternalIdentity.objects.filter(subject="erin-1").exists()


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, b"lacks its code or state"),
        ("?code=abc", 400, b"lacks its code or state"),
        ("?code=abc&state=not-started-here", 400, b"does not belong to a sign-in started in this browser"),
        ("?error=access_denied&error_description=User+cancelled", 403, b"User cancelled"),
    ],
)
def test_bad_callback_parameters_answer_4xx(client, oidc_settings, query, status, message):
    answer = client.get(f"/sso/oidc/callback/{query}")
    assert answer.status_code == status and message in answer.content


def test_forged_code_with_a_real_state_refused(client, oidc_settings):
    client.get("/sso/oidc/login/")
    state = next(iter(client.session["oidc_states"]))
    answer = client.get(f"/sso/oidc/callback/?code=forged&state={state}")
    assert answer.status_code == 403 and b"did not accept the sign-in code" in answer.content


def _id_token_of(client, settings, oidc_provider, login):
    settings.OIDC_STORE_ID_TOKEN = True
    oidc_provider.set_accounts({login: {"email": f"{login}@example.com", "email_verified": True}})
    assert _sign_in(client, login).status_code == 302
    return client.session["oidc_id_token"]


def test_tampered_id_token_refused(client, oidc_settings, oidc_provider):
    import base64
    import json

    from registry.sso.oidc import QuorumOIDCBackend
    from registry.sso.services import SignInRefused

    token = _id_token_of(client, oidc_settings, oidc_provider, "frank-1")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    backend = QuorumOIDCBackend()
    assert backend.verify_token(token, nonce=claims["nonce"])["sub"] == "frank-1"  # the real one passes
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(SignInRefused, match="ID token was refused"):
        backend.verify_token(f"{header}.{forged}.{signature}", nonce=claims["nonce"])


def test_wrong_issuer_refused(client, oidc_settings, oidc_provider, provider_jwks, tmp_path):
    """A second provider with the very same signing key: its token's signature is valid for the
    configured provider's keys, and only the issuer check refuses it."""
    import jwt

    from registry.sso.oidc import QuorumOIDCBackend
    from registry.sso.services import SignInRefused

    from .idp_oidc import provider_start

    rogue = provider_start(tmp_path, jwks=provider_jwks)
    try:
        oidc_settings.QUORUM_OIDC_ISSUER = rogue.issuer
        token = _id_token_of(client, oidc_settings, rogue, "grace-1")
    finally:
        rogue.stop()
    oidc_settings.QUORUM_OIDC_ISSUER = oidc_provider.issuer
    nonce = jwt.decode(token, options={"verify_signature": False})["nonce"]
    with pytest.raises(SignInRefused, match="another identity provider"):
        QuorumOIDCBackend().verify_token(token, nonce=nonce)
    # A discovery document that names another issuer is refused before the browser leaves.
    oidc_settings.QUORUM_OIDC_ISSUER = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    answer = client.get("/sso/oidc/login/")
    assert answer.status_code == 502 and b"names another issuer" in answer.content


@pytest.mark.parametrize(
    ("claims", "strong"),
    [
        ({}, False),
        ({"amr": ["pwd"]}, False),
        ({"amr": ["pwd", "mfa"]}, True),
        ({"acr": "http://schemas.openid.net/pape/policies/2007/06/multi-factor"}, True),
        ({"acr": "urn:mace:incommon:iap:silver", "amr": "otp"}, True),
    ],
)
def test_idp_acr_and_amr_decide_multi_factor(claims, strong):
    from registry.sso.oidc import oidc_account

    account = oidc_account(issuer="https://idp.example", claims={"sub": "1", **claims})
    assert account.strong is strong
