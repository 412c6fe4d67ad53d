"""Local passwords off for everyone but the break-glass accounts; the login page offers the IdP."""

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    User.objects.create_user("ann", password="pw-ann-123456")
    User.objects.create_user("breakglass", password="pw-glass-123456", is_staff=True, is_superuser=True)


def _login(client, username, password):
    return client.post("/login/", {"username": username, "password": password})


def test_passwords_work_by_default(client, people):
    assert _login(client, "ann", "pw-ann-123456").status_code == 302


def test_passwords_off_but_for_break_glass(client, people, settings):
    settings.QUORUM_LOCAL_PASSWORDS = False
    settings.QUORUM_BREAK_GLASS_USERS = ["breakglass"]
    refused = _login(client, "ann", "pw-ann-123456")
    assert refused.status_code == 200 and not refused.wsgi_request.user.is_authenticated
    # The admin's login is the same door.
    assert client.post("/admin/login/", {"username": "ann", "password": "pw-ann-123456"}).status_code == 200
    assert _login(client, "breakglass", "pw-glass-123456").status_code == 302


def test_login_page_offers_configured_provider_only(client, settings):
    assert b"Sign in with" not in client.get("/login/").content
    settings.QUORUM_OIDC_ISSUER = "https://idp.example.com"
    settings.OIDC_RP_CLIENT_ID = "quorum"
    settings.QUORUM_OIDC_PROVIDER_NAME = "Okta"
    page = client.get("/login/?next=/approvals/").content
    assert b"Sign in with Okta" in page and b'href="/sso/oidc/login/?next=%2Fapprovals%2F"' in page
    settings.QUORUM_LOCAL_PASSWORDS = False
    assert b"break-glass accounts only" in client.get("/login/").content


def test_callback_without_configuration_is_404(client):
    assert client.get("/sso/oidc/callback/?code=a&state=b").status_code == 404
    assert client.get("/sso/oidc/login/").status_code == 404


def test_unknown_role_in_role_map_fails_the_check(settings):
    from registry.sso.checks import sso_role_map_check

    settings.QUORUM_SSO_ROLE_MAP = {"admins": "Approver", "typo": "Aprover"}
    (error,) = sso_role_map_check()
    assert "Aprover" in error.msg
