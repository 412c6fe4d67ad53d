"""Multi-factor authentication for local accounts (issue 20), on django-otp.

A person's second factors are django-otp devices: an authenticator app (TOTP, ``otp_totp``),
passkeys (WebAuthn, ``django-otp-webauthn``) and ten single-use recovery codes (``otp_static``).

The rule: after a password sign-in, a person who has a confirmed second factor, or whose role
decides (``QUORUM_MFA_ROLES`` and superusers) while ``QUORUM_REQUIRE_MFA`` is on, must pass the
second step before anything else (``SecondStepMiddleware``); one without a factor yet is sent to
enrol one. A verified code or passkey upgrades the session's assurance to multi-factor
(``registry.assurance.record_sign_in``), which step-up on decisions reads. Wrong codes are refused
and throttled by django-otp (each failure doubles the wait before the device accepts another try).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex
from django_otp_webauthn.models import WebAuthnCredential

from .assurance import PASSWORD_BACKENDS, record_sign_in

PENDING_KEY = "quorum_mfa_pending"
ENROL_KEY = "quorum_totp_enrol_key"
RECOVERY_CODES = 10
RECOVERY_DEVICE_NAME = "Recovery codes"
# Paths a session waiting for its second step may still reach (besides the MFA pages).
_OPEN_PREFIXES = ("/static/", "/logout/", "/healthz", "/favicon.ico")


class SecondFactorRefused(ValidationError):
    """A wrong, reused or throttled code; the message says which, nothing is recorded."""


def mfa_required_for(user) -> bool:
    """Does this person's role oblige them to use a second factor? Only while
    ``QUORUM_REQUIRE_MFA`` is on: superusers and the roles in ``QUORUM_MFA_ROLES``."""
    if not settings.QUORUM_REQUIRE_MFA or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=settings.QUORUM_MFA_ROLES).exists()


def has_second_factor(user) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


@dataclass(frozen=True)
class FactorSummary:
    """What the security page lists for one person."""

    totp: list[TOTPDevice]
    passkeys: list[WebAuthnCredential]
    recovery_left: int
    required: bool

    @property
    def any(self) -> bool:
        return bool(self.totp or self.passkeys or self.recovery_left)


def factors_of(user) -> FactorSummary:
    recovery = StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
    return FactorSummary(
        totp=list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk")),
        passkeys=list(WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("pk")),
        recovery_left=recovery,
        required=mfa_required_for(user),
    )


# --- sign-in ---------------------------------------------------------------------------------------


def second_step_on_login(sender, request, user, **kwargs) -> None:
    """``user_logged_in`` receiver: a password sign-in of someone with a second factor, or whose
    role requires one, must pass the second step before the session is of any use."""
    if request is None or not hasattr(request, "session"):
        return
    if getattr(user, "backend", "") not in PASSWORD_BACKENDS:
        return  # single sign-on: the identity provider did the authenticating
    if has_second_factor(user) or mfa_required_for(user):
        request.session[PENDING_KEY] = True


def second_step_pending(request) -> bool:
    return bool(getattr(request, "session", None) is not None and request.session.get(PENDING_KEY))


def _verified(request, device, method: str, *, credential: str = "") -> None:
    """The session passed a second factor now: django-otp's verified flag, and the assurance."""
    otp_login(request, device)
    record_sign_in(request, request.user, method=method, mfa=True, credential=credential)
    request.session.pop(PENDING_KEY, None)


def _throttle_message(devices) -> str | None:
    waits = []
    for device in devices:
        allowed, data = device.verify_is_allowed()
        if not allowed and data and data.get("locked_until"):
            waits.append(data["locked_until"])
    if not waits:
        return None
    seconds = max(1, int((min(waits) - timezone.now()).total_seconds()) + 1)
    return f"Too many wrong codes. Wait {seconds} seconds, then try again."


def second_factor_verify(request, code: str) -> str:
    """Check a six-digit authenticator code or a recovery code for ``request.user``; on success
    mark the session multi-factor and return the method ("totp" or "recovery"). A wrong code
    raises ``SecondFactorRefused`` and counts against the devices' throttle. Race: the devices are
    locked (``select_for_update``) so one code cannot be used twice by two concurrent requests."""
    code = "".join((code or "").split())
    if not code:
        raise SecondFactorRefused("Enter the code from your authenticator app, or a recovery code.")
    if len(code) > 16:
        raise SecondFactorRefused("That is not a code: codes are 6 digits, recovery codes 8 characters.")
    user = request.user
    with transaction.atomic():
        devices = [
            d
            for d in devices_for_user(user, confirmed=True, for_verify=True)
            if isinstance(d, (TOTPDevice, StaticDevice))
        ]
        if not devices:
            raise SecondFactorRefused("You have no authenticator app or recovery codes set up.")
        throttled = _throttle_message(devices)
        if throttled and all(not d.verify_is_allowed()[0] for d in devices):
            raise SecondFactorRefused(throttled)
        for device in devices:
            if device.verify_token(code):
                method = "totp" if isinstance(device, TOTPDevice) else "recovery"
                _verified(request, device, method)
                return method
    wrong = "That code is not right. Check your app's clock and try again."
    raise SecondFactorRefused(_throttle_message(devices) or wrong)


def passkey_verified(request, credential: WebAuthnCredential) -> None:
    """A passkey ceremony for ``request.user`` just succeeded (django-otp-webauthn checked it)."""
    _verified(request, credential, "webauthn", credential=credential.credential_id_sha256)


# --- enrolment ------------------------------------------------------------------------------------


def totp_enrol_key(request) -> str:
    """The secret offered on the enrolment page, kept in the session until it is confirmed (a page
    view creates no device)."""
    key = request.session.get(ENROL_KEY)
    if not key:
        key = random_hex(20)
        request.session[ENROL_KEY] = key
    return key


def totp_config_url(user, key: str) -> str:
    return TOTPDevice(user=user, key=key, name="Authenticator app").config_url


def totp_enrol_confirm(request, *, name: str, code: str) -> TOTPDevice:
    """Add an authenticator app once its first code proves it holds the session's secret; the
    session then counts as verified with it. A wrong code changes nothing."""
    key = request.session.get(ENROL_KEY)
    if not key:
        raise SecondFactorRefused("The set-up expired; scan the new code below.")
    device = TOTPDevice(user=request.user, key=key, name=(name or "Authenticator app")[:64], confirmed=True)
    code = "".join((code or "").split())
    if not code.isdigit() or len(code) != device.digits:
        raise SecondFactorRefused(f"Enter the {device.digits}-digit code your app shows.")
    # django-otp's TOTP directly, not device.verify_token(): on a wrong code the device's throttle
    # would save the unconfirmed device. Guessing here gains nothing: the session shows the secret.
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if not totp.verify(int(code), device.tolerance):
        raise SecondFactorRefused("That code does not match. Check the app's clock and try the current code.")
    device.last_t = totp.t()  # this code may not be used again (django-otp refuses t <= last_t)
    device.save()
    request.session.pop(ENROL_KEY, None)
    _verified(request, device, "totp")
    return device


def recovery_codes_generate(user) -> list[str]:
    """Ten new single-use recovery codes; the previous ones stop working. Shown once."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.select_for_update().get_or_create(
            user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def factor_remove(user, *, kind: str, pk: int) -> None:
    """Remove one of ``user``'s own second factors (never someone else's)."""
    model = {"totp": TOTPDevice, "passkey": WebAuthnCredential}.get(kind)
    if model is None:
        raise ValidationError("Unknown kind of second factor.")
    deleted, _ = model.objects.filter(user=user, pk=pk).delete()
    if not deleted:
        raise ValidationError("There is no such second factor on your account.")


# --- the second step gate -------------------------------------------------------------------------


class SecondStepMiddleware:
    """A session waiting for its second step reaches only the MFA pages (and the enrolment pages
    when it has no factor yet); everything else redirects to the second step, or answers 403 on
    the API. After ``OTPMiddleware`` and the session-expiry middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and second_step_pending(request):
            blocked = self._blocked(request)
            if blocked is not None:
                return blocked
        return self.get_response(request)

    def _blocked(self, request):
        path = request.path
        if path.startswith(_OPEN_PREFIXES) or path.startswith(reverse("mfa:verify")):
            return None
        if path.startswith(reverse("otp_webauthn:credential-authentication-begin").rsplit("authentication/", 1)[0]):
            return None  # the passkey ceremony endpoints
        if path.startswith(reverse("mfa:security")) and not has_second_factor(request.user):
            return None  # enrolling a first factor
        if path.startswith("/api/"):
            return JsonResponse({"detail": "Finish signing in with your second factor first."}, status=403)
        return redirect(f"{reverse('mfa:verify')}?{urlencode({'next': request.get_full_path()})}")
