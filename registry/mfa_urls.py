"""Second-factor pages under /account/ (``mfa``) and the passkey ceremonies under
/account/webauthn/ (django-otp-webauthn's ``otp_webauthn`` namespace, with the two "complete"
steps replaced by ours so a passkey upgrades the session's assurance)."""

from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn.views import BeginCredentialAuthenticationView, BeginCredentialRegistrationView

from . import mfa_views

webauthn_patterns = (
    [
        path("registration/begin/", BeginCredentialRegistrationView.as_view(), name="credential-registration-begin"),
        path(
            "registration/complete/",
            mfa_views.PasskeyRegistrationComplete.as_view(),
            name="credential-registration-complete",
        ),
        path(
            "authentication/begin/",
            BeginCredentialAuthenticationView.as_view(),
            name="credential-authentication-begin",
        ),
        path(
            "authentication/complete/",
            mfa_views.PasskeyAuthenticationComplete.as_view(),
            name="credential-authentication-complete",
        ),
        path("jsi18n/", JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]), name="js-i18n-catalog"),
    ],
    "otp_webauthn",
)

mfa_patterns = (
    [
        path("verify/", mfa_views.verify, name="verify"),
        path("security/", mfa_views.security, name="security"),
        path("security/authenticator/", mfa_views.totp_enrol, name="totp_enrol"),
        path("security/recovery-codes/", mfa_views.recovery_codes, name="recovery_codes"),
        path("security/<str:kind>/<int:pk>/remove/", mfa_views.factor_remove, name="factor_remove"),
    ],
    "mfa",
)

urlpatterns = [
    path("", include(mfa_patterns)),
    path("webauthn/", include(webauthn_patterns)),
]
