"""OpenID Connect sign-in with mozilla-django-oidc (authorization-code flow, PKCE, state, nonce).

The library does the protocol: state and nonce in the session, PKCE (S256), the token call, the ID
token's signature against the provider's JWKS. Quorum adds what it leaves out: endpoints from the
issuer's discovery document, the ID token's issuer, audience and expiry, the userinfo subject
matching the ID token's, and the account rules of :mod:`registry.sso.services`. Every refusal is a
4xx page saying why (``sso_error.html``), never a 5xx."""

from __future__ import annotations

import logging
import time

import httpx
import jwt
import requests
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import Http404
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from .services import IdpAccount, SignInRefused, sso_error, sso_sign_in_record, sso_sign_in_resolve

logger = logging.getLogger(__name__)

DISCOVERY_TTL_SECONDS = 3600
# Discovery document per issuer, with when it was fetched (per process; re-read after the TTL).
_discovered: dict[str, tuple[float, dict]] = {}
# mozilla-django-oidc setting name -> discovery document key.
ENDPOINT_KEYS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


def oidc_enabled() -> bool:
    return bool(settings.QUORUM_OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID)


def oidc_discovery(issuer: str) -> dict:
    """The provider's discovery document, whose ``issuer`` must be the configured issuer exactly
    (OpenID Connect Discovery 1.0, section 4.3: otherwise another provider could stand in)."""
    cached = _discovered.get(issuer)
    if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_SECONDS:
        return cached[1]
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        answer = httpx.get(url, timeout=settings.OIDC_TIMEOUT, follow_redirects=False)
        answer.raise_for_status()
        document = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SignInRefused(f"The identity provider's discovery document ({url}) could not be read.") from exc
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise SignInRefused("The identity provider's discovery document names another issuer.")
    missing = [key for key in ENDPOINT_KEYS.values() if not document.get(key)]
    if missing:
        raise SignInRefused(f"The identity provider's discovery document lacks {', '.join(missing)}.")
    _discovered[issuer] = (time.monotonic(), document)
    return document


def _oidc_setting(attr: str, *default):
    """Settings as mozilla-django-oidc asks for them, the endpoints from discovery."""
    if attr in ENDPOINT_KEYS:
        return oidc_discovery(settings.QUORUM_OIDC_ISSUER)[ENDPOINT_KEYS[attr]]
    if hasattr(settings, attr):
        return getattr(settings, attr)
    if default:
        return default[0]
    raise ImproperlyConfigured(f"Setting {attr} not found")


def _claim_list(value) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


class QuorumOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with lazy, discovered endpoints and Quorum's account rules."""

    def __init__(self, *args, **kwargs):
        # Not the library's __init__: Django builds a backend for every request of a signed-in
        # user (get_user), which must not fetch the discovery document.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    get_settings = staticmethod(_oidc_setting)

    # The library reads these as attributes; here they are read when a sign-in needs them.
    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: _oidc_setting("OIDC_OP_TOKEN_ENDPOINT"))
    OIDC_OP_USER_ENDPOINT = property(lambda self: _oidc_setting("OIDC_OP_USER_ENDPOINT"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: _oidc_setting("OIDC_OP_JWKS_ENDPOINT"))
    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_RP_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_RP_CLIENT_SECRET)
    OIDC_RP_SIGN_ALGO = property(lambda self: settings.OIDC_RP_SIGN_ALGO)
    OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs or not oidc_enabled():
            return None  # not an OIDC callback: a password login, the test client, SAML
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        """The library checks the signature (and the nonce); a valid signature by the right
        provider is not enough: the token must be for this client, from this issuer, unexpired."""
        try:
            payload = super().verify_token(token, **kwargs)
        # The library's own refusals, PyJWT's (expired, malformed, unusable key) and the JWKS fetch.
        except (SuspiciousOperation, jwt.PyJWTError, requests.RequestException, KeyError, ValueError) as exc:
            raise SignInRefused(f"The identity provider's ID token was refused: {exc}") from exc
        if payload.get("iss") != settings.QUORUM_OIDC_ISSUER:
            raise SignInRefused("The ID token was issued by another identity provider than the one configured.")
        if settings.OIDC_RP_CLIENT_ID not in _claim_list(payload.get("aud")):
            raise SignInRefused("The ID token was issued for another application.")
        if not isinstance(payload.get("exp"), int | float) or not payload.get("sub"):
            raise SignInRefused("The ID token has no expiry or no subject.")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload.get("sub"):
            raise SignInRefused("The identity provider's user information is about another person than the ID token.")
        # Groups may come in the ID token (Entra ID sends them only there) or from userinfo;
        # userinfo wins for the profile, the ID token for how the person authenticated.
        merged = {**payload, **claims, **{k: payload[k] for k in ("acr", "amr") if k in payload}}
        account = oidc_account(issuer=payload["iss"], claims=merged)
        user = sso_sign_in_resolve(account=account)
        self.request.quorum_idp_account = account
        return user

    def get_user(self, user_id):
        # ModelBackend's: a user deactivated since they signed in is signed out at their next request
        # (the library's own get_user skips that check).
        return ModelBackend.get_user(self, user_id)


def oidc_account(*, issuer: str, claims: dict) -> IdpAccount:
    """The IdP account an ID token and userinfo describe (standard claims, the configured groups claim)."""
    verified = claims.get("email_verified")
    return IdpAccount(
        provider="oidc",
        issuer=issuer,
        subject=str(claims["sub"]),
        email=str(claims.get("email") or "")[:254],
        # Some providers send "true" as a string.
        email_verified=verified is True or str(verified).lower() == "true",
        username_hint=str(claims.get("preferred_username") or ""),
        first_name=str(claims.get("given_name") or ""),
        last_name=str(claims.get("family_name") or ""),
        groups=_claim_list(claims.get(settings.QUORUM_OIDC_GROUPS_CLAIM)),
        acr=str(claims.get("acr") or ""),
        amr=_claim_list(claims.get("amr")),
    )


class OIDCSignInView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider with state, nonce and a PKCE challenge."""

    get_settings = staticmethod(_oidc_setting)

    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not oidc_enabled():
            raise Http404("OpenID Connect is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = _oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except SignInRefused as exc:
            return sso_error(request, str(exc), status=502)
        return super().get(request)


class OIDCCallbackView(OIDCAuthenticationCallbackView):
    """The provider's redirect back: every failure is a 4xx page with the reason."""

    get_settings = staticmethod(_oidc_setting)

    def get(self, request):
        if not oidc_enabled():
            raise Http404("OpenID Connect is not configured.")
        if request.GET.get("error"):
            super().get(request)  # forgets the state, signs out
            reason = request.GET.get("error_description") or request.GET["error"]
            return sso_error(request, f"The identity provider refused the sign-in: {reason[:300]}")
        if not request.GET.get("code") or not request.GET.get("state"):
            return sso_error(request, "The sign-in answer lacks its code or state; start again.", status=400)
        if request.GET["state"] not in (request.session.get("oidc_states") or {}):
            return sso_error(
                request, "This sign-in answer does not belong to a sign-in started in this browser; start again.", 400
            )
        try:
            return super().get(request)
        except SignInRefused as exc:
            return sso_error(request, str(exc))
        except requests.RequestException as exc:
            logger.warning("OIDC token or userinfo call failed: %s", exc)
            return sso_error(
                request, "The identity provider did not accept the sign-in code (used, expired or forged)."
            )

    def login_failure(self):
        return sso_error(self.request, "The sign-in was refused.")

    def login_success(self):
        response = super().login_success()
        account = getattr(self.request, "quorum_idp_account", None)
        if account is not None:
            sso_sign_in_record(request=self.request, user=self.user, account=account)
        return response
