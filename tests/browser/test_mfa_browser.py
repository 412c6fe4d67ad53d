"""Issue 20 item 3: a passkey registration and a passkey sign-in in real Chromium, with a virtual
authenticator added through the Chrome DevTools Protocol (``WebAuthn.addVirtualAuthenticator``)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django_otp_webauthn.models import WebAuthnCredential

from tests.conftest import browser_login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def passkey_site(live_server, settings):
    """django-otp-webauthn checks the page's origin and the relying-party id: the live server's."""
    origin = live_server.url.replace("127.0.0.1", "localhost")
    settings.OTP_WEBAUTHN_RP_ID = urlsplit(origin).hostname
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [origin]
    return origin


def _virtual_authenticator(page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def test_register_a_passkey_then_sign_in_with_it_as_second_factor(new_page, passkey_site):
    UserFactory(username="pat", first_name="Pat", last_name="Key")
    page = new_page()
    page.goto(passkey_site + "/login/")
    _virtual_authenticator(page)
    browser_login(page, "pat")

    page.goto(passkey_site + "/account/security/")
    page.get_by_test_id("passkey-register").click()
    page.get_by_text("Registration successful!").wait_for()
    credential = WebAuthnCredential.objects.get(user__username="pat")
    assert credential.confirmed

    # Sign out and in again: the password alone now leads to the second step.
    page.get_by_role("button", name="Log out").click()
    browser_login(page, "pat")
    assert "/account/verify/" in page.url
    page.goto(passkey_site + "/agents/")
    assert "/account/verify/" in page.url  # nothing else until the second step is done
    page.get_by_test_id("passkey-verify").click()
    page.wait_for_url(lambda url: "/account/verify/" not in url)
    assert page.url.rstrip("/").endswith("/agents")

    page.goto(passkey_site + "/account/security/")
    assert "signed in with webauthn" in page.get_by_test_id("current-assurance").inner_text()
    assert "(multi-factor)" in page.get_by_test_id("current-assurance").inner_text()
