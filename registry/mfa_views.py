"""Second-factor pages: the sign-in second step (also the step-up before a sensitive decision),
the security page with enrolment, and the passkey ceremonies. Parsing only; the rules are in
:mod:`registry.mfa`."""

from __future__ import annotations

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import mark_safe
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST
from django_otp_webauthn import exceptions as webauthn_errors
from django_otp_webauthn.views import CompleteCredentialAuthenticationView, CompleteCredentialRegistrationView

from . import mfa
from .assurance import current_assurance


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )


class TotpEnrolForm(forms.Form):
    name = forms.CharField(label="Name of this device", max_length=64, initial="Authenticator app")
    code = forms.CharField(
        label="Code shown by the app",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    hosts = {request.get_host()}
    if url_has_allowed_host_and_scheme(candidate, allowed_hosts=hosts, require_https=request.is_secure()):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    """The second step after a password, and the step-up before a decision that needs one."""
    factors = mfa.factors_of(request.user)
    next_url = _next_url(request)
    if not factors.any:
        messages.info(request, "Set up a second factor first: an authenticator app or a passkey.")
        return redirect(f"{reverse('mfa:security')}?{urlencode({'next': next_url})}")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                method = mfa.second_factor_verify(request, form.cleaned_data["code"])
            except ValidationError as exc:
                form.add_error("code", exc.messages[0])
            else:
                word = "recovery code" if method == "recovery" else "authenticator code"
                messages.success(request, f"Verified with your {word}.")
                return redirect(next_url)
        status = 400
    context = {
        "form": form,
        "factors": factors,
        "next": next_url,
        "pending": mfa.second_step_pending(request),
        "assurance": current_assurance(request),
    }
    return render(request, "registration/mfa_verify.html", context, status=status)


@login_required
def security(request):
    """Your second factors: add an authenticator app or a passkey, recovery codes, remove one."""
    context = {
        "factors": mfa.factors_of(request.user),
        "assurance": current_assurance(request),
        "pending": mfa.second_step_pending(request),
        "next": _next_url(request) if request.GET.get("next") else "",
    }
    return render(request, "registration/mfa_security.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def totp_enrol(request):
    key = mfa.totp_enrol_key(request)
    form = TotpEnrolForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                mfa.totp_enrol_confirm(request, name=form.cleaned_data["name"], code=form.cleaned_data["code"])
            except ValidationError as exc:
                form.add_error("code", exc.messages[0])
            else:
                messages.success(request, "Authenticator app added. Now create your recovery codes and keep them safe.")
                return redirect(f"{reverse('mfa:security')}?{urlencode({'next': _next_url(request)})}")
        status = 400
    url = mfa.totp_config_url(request.user, key)
    # segno writes the QR code as an SVG of one path (no script, no style attribute): safe to inline.
    qr_svg = mark_safe(segno.make(url, error="m").svg_inline(scale=4, title="Scan with your authenticator app"))  # noqa: S308
    context = {"form": form, "qr_svg": qr_svg, "otpauth_url": url, "next": request.GET.get("next", "")}
    return render(request, "registration/mfa_totp.html", context, status=status)


@login_required
@require_POST
def recovery_codes(request):
    """New recovery codes, shown once on this answer (never stored readable elsewhere)."""
    codes = mfa.recovery_codes_generate(request.user)
    return render(request, "registration/mfa_recovery.html", {"codes": codes})


@login_required
@require_POST
def factor_remove(request, kind: str, pk: int):
    try:
        mfa.factor_remove(request.user, kind=kind, pk=pk)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, "Removed.")
    return redirect("mfa:security")


class PasskeyAuthenticationComplete(CompleteCredentialAuthenticationView):
    """django-otp-webauthn's ceremony, as a second factor only (passwordless sign-in is off): the
    credential must be the signed-in person's own, and success upgrades the session's assurance."""

    def complete_auth(self, device) -> None:
        if not self.request.user.is_authenticated:
            raise webauthn_errors.PasswordlessLoginDisabled()
        if device.user_id != self.request.user.pk:
            raise webauthn_errors.CredentialUserMismatch()
        mfa.passkey_verified(self.request, device)


class PasskeyRegistrationComplete(CompleteCredentialRegistrationView):
    """Registering a first passkey while the second step is pending counts as passing it (the
    library's own rule); otherwise registering does not change the session's assurance."""

    def post(self, *args, **kwargs):
        pending = mfa.second_step_pending(self.request)
        response = super().post(*args, **kwargs)
        if pending and response.status_code == 200 and self.request.user.is_verified():
            device = self.request.user.otp_device
            mfa.passkey_verified(self.request, device)
        return response
