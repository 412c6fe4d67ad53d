"""Issue 20 item 3: MFA for local accounts (django-otp).

* TOTP enrolment on the security page (codes computed with django-otp's own TOTP), then a
  password sign-in asks for the second step before any page; the right code lets the person in,
  a recovery code works once.
* Bad codes are refused with a clear message, change nothing, and are throttled.
* With QUORUM_REQUIRE_MFA on, the roles that decide must enrol at their next sign-in; others and
  the default (demo) setting sign in with the password alone."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import roles
from registry.assurance import SESSION_KEY
from registry.mfa import PENDING_KEY
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _login(client, username):
    return client.post("/login/", {"username": username, "password": "pw"})


def _code_for_key(hex_key: str, offset: int = 0) -> str:
    totp = TOTP(bytes.fromhex(hex_key), step=30, t0=0, digits=6, drift=offset)
    totp.time = time.time()
    return f"{totp.token():06d}"


def test_totp_enrolment_then_sign_in_needs_the_second_step():
    UserFactory(username="dana")
    client = Client()
    assert _login(client, "dana").status_code == 302
    page = client.get("/account/security/authenticator/")
    assert page.status_code == 200 and "<svg" in page.text  # the QR code
    key = client.session["quorum_totp_enrol_key"]
    assert "otpauth://totp/Quorum" in page.text

    wrong = client.post("/account/security/authenticator/", {"name": "phone", "code": "000000"})
    assert wrong.status_code == 400 and "does not match" in wrong.text
    assert not TOTPDevice.objects.exists()
    bad_input = client.post("/account/security/authenticator/", {"name": "phone", "code": "12ab"})
    assert bad_input.status_code == 400 and "6-digit code" in bad_input.text

    added = client.post("/account/security/authenticator/", {"name": "phone", "code": _code_for_key(key)})
    assert added.status_code == 302
    assert TOTPDevice.objects.get().name == "phone"
    assert client.session[SESSION_KEY]["mfa"] is True
    recovery = client.post("/account/security/recovery-codes/")
    codes = re.findall(r"<li>([a-z0-9]{8})</li>", recovery.text)
    assert len(codes) == 10

    # A new sign-in: the password alone reaches nothing but the second step.
    client = Client()
    assert _login(client, "dana").status_code == 302
    assert client.session[PENDING_KEY] is True
    blocked = client.get("/agents/")
    assert blocked.status_code == 302 and blocked.url == "/account/verify/?next=%2Fagents%2F"
    assert client.get("/api/v1/agents/").status_code == 403
    verified = client.post("/account/verify/", {"code": _code_for_key(key, offset=1), "next": "/agents/"})
    assert verified.status_code == 302 and verified.url == "/agents/"
    assert client.get("/agents/").status_code == 200
    assert client.session[SESSION_KEY]["method"] == "totp"

    # A recovery code works once.
    for expected in (302, 400):
        client = Client()
        _login(client, "dana")
        assert client.post("/account/verify/", {"code": codes[0]}).status_code == expected


def test_bad_codes_are_refused_clearly_and_throttled():
    user = UserFactory(username="erin")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    _login(client, "erin")
    empty = client.post("/account/verify/", {"code": ""})
    assert empty.status_code == 400 and "This field is required" in empty.text
    long = client.post("/account/verify/", {"code": "9" * 20})
    assert long.status_code == 400
    first = client.post("/account/verify/", {"code": "000000"})
    assert first.status_code == 400 and ("not right" in first.text or "Too many wrong codes" in first.text)
    second = client.post("/account/verify/", {"code": "000001"})
    assert "Too many wrong codes. Wait" in second.text
    # Throttled: even the right code waits until the pause is over.
    right = client.post("/account/verify/", {"code": _code_for_key(device.key)})
    assert right.status_code == 400 and "Too many wrong codes" in right.text
    assert client.session.get(PENDING_KEY) is True
    device.refresh_from_db()
    assert device.throttling_failure_count >= 1


def test_required_for_deciding_roles_only_when_switched_on(settings):
    UserFactory(username="approver1", roles=[roles.APPROVER])
    UserFactory(username="exec1", roles=[roles.EXECUTIVE])
    # Default (the demo): the password alone.
    client = Client()
    _login(client, "approver1")
    assert client.get("/").status_code == 200

    settings.QUORUM_REQUIRE_MFA = True
    client = Client()
    _login(client, "approver1")
    sent = client.get("/", follow=True)
    assert sent.redirect_chain[-1][0].startswith("/account/security/")
    assert 'data-testid="mfa-required"' in sent.content.decode()
    assert client.get("/account/security/authenticator/").status_code == 200  # may enrol
    other = Client()
    _login(other, "exec1")
    assert other.get("/").status_code == 200


def test_the_security_page_lists_and_removes_only_your_own_factors():
    ann, bob = UserFactory(username="ann3"), UserFactory(username="bob3")
    theirs = TOTPDevice.objects.create(user=bob, name="bob's phone", confirmed=True)
    client = Client()
    client.force_login(ann)
    page = client.get("/account/security/").content.decode()
    assert "bob&#x27;s phone" not in page and "None yet." in page
    response = client.post(f"/account/security/totp/{theirs.pk}/remove/", follow=True)
    assert "no such second factor" in response.content.decode()
    assert TOTPDevice.objects.filter(pk=theirs.pk).exists()
    assert client.post("/account/security/bogus/1/remove/", follow=True).status_code == 200
