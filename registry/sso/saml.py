"""SAML 2.0 sign-in with djangosaml2 on pysaml2 (signatures checked by Debian's ``xmlsec1``).

djangosaml2 does the protocol: the AuthnRequest, the outstanding-request cache (an answer to a
request this browser did not make is refused), and pysaml2 checks the response: the IdP's
signature on the assertion (required here), audience, destination, validity window. Quorum builds
the service provider's configuration from the environment at each request and applies the same
account rules as OpenID Connect (:mod:`registry.sso.services`). Every refusal is a 4xx page."""

from __future__ import annotations

import logging

import saml2
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.urls import reverse
from djangosaml2.backends import Saml2Backend
from djangosaml2.views import AssertionConsumerServiceView, LoginView, MetadataView
from saml2.config import SPConfig
from saml2.sigver import get_xmlsec_binary

from .services import IdpAccount, SignInRefused, sso_error, sso_sign_in_record, sso_sign_in_resolve

logger = logging.getLogger(__name__)

# Authentication context classes that mean more than a password (SAML 2.0 authn context and the
# REFEDS MFA profile); QUORUM_STRONG_ACR_VALUES adds the IdP's own.
SAML_MFA_CONTEXTS = ("https://refeds.org/profile/mfa",)


def saml_enabled() -> bool:
    return bool(settings.QUORUM_SAML_IDP_METADATA)


def saml_sp_config(request: HttpRequest | None = None) -> SPConfig:
    """The service provider's pysaml2 configuration, from the environment.

    The entity id and the assertion consumer URL default to this site's own URLs. Assertions must
    be signed by the IdP (``want_assertions_signed``); answers nobody asked for are refused
    (``allow_unsolicited`` off)."""
    metadata = settings.QUORUM_SAML_IDP_METADATA
    source = {"remote": [{"url": metadata}]} if metadata.startswith(("http://", "https://")) else {"local": [metadata]}
    base = request.build_absolute_uri("/").rstrip("/") if request is not None else settings.QUORUM_BASE_URL
    entity_id = settings.QUORUM_SAML_SP_ENTITY_ID or f"{base}{reverse('sso:saml_metadata')}"
    config = {
        "entityid": entity_id,
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
        "metadata": source,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "name": "Quorum",
                "endpoints": {
                    "assertion_consumer_service": [(f"{base}{reverse('sso:saml_acs')}", saml2.BINDING_HTTP_POST)],
                },
                "allow_unsolicited": False,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "authn_requests_signed": bool(settings.QUORUM_SAML_SP_KEY_FILE),
                "name_id_format_allow_create": True,
            }
        },
    }
    if settings.QUORUM_SAML_SP_KEY_FILE and settings.QUORUM_SAML_SP_CERT_FILE:
        config["key_file"] = settings.QUORUM_SAML_SP_KEY_FILE
        config["cert_file"] = settings.QUORUM_SAML_SP_CERT_FILE
    sp = SPConfig()
    sp.load(config)
    return sp


def _first(values) -> str:
    return str(values[0]) if values else ""


def saml_account(session_info: dict) -> IdpAccount:
    """The IdP account a verified SAML assertion describes: issuer entity id, NameID, attributes."""
    ava = session_info.get("ava") or {}
    name_id = session_info.get("name_id")
    subject = getattr(name_id, "text", "") or ""
    if not subject:
        raise SignInRefused("The identity provider's assertion names nobody (no NameID).")
    contexts = [str(entry[0]) for entry in session_info.get("authn_info") or [] if entry and entry[0]]
    email = _first(ava.get(settings.QUORUM_SAML_EMAIL_ATTRIBUTE))
    return IdpAccount(
        provider="saml",
        issuer=str(session_info.get("issuer") or ""),
        subject=subject,
        email=email[:254],
        email_verified=bool(email) and settings.QUORUM_SAML_EMAIL_VERIFIED,
        username_hint=_first(ava.get(settings.QUORUM_SAML_USERNAME_ATTRIBUTE)),
        first_name=_first(ava.get("givenName")),
        last_name=_first(ava.get("sn")),
        groups=tuple(str(g) for g in ava.get(settings.QUORUM_SAML_GROUPS_ATTRIBUTE) or ()),
        acr=_first(contexts),
        amr=("mfa",) if set(contexts) & set(SAML_MFA_CONTEXTS) else (),
    )


class QuorumSaml2Backend(Saml2Backend):
    """djangosaml2's backend, with Quorum's account rules instead of its attribute mapping."""

    def authenticate(self, request, session_info=None, attribute_mapping=None, **kwargs):
        if request is None or session_info is None or not saml_enabled():
            return None
        try:
            account = saml_account(session_info)
            user = sso_sign_in_resolve(account=account)
        except SignInRefused as exc:
            # Django's authenticate() swallows PermissionDenied: keep the reason for the page.
            request.quorum_sso_refusal = str(exc)
            raise PermissionDenied(str(exc)) from exc
        request.quorum_idp_account = account
        return user


class _Enabled:
    config_loader_path = staticmethod(saml_sp_config)

    def dispatch(self, request, *args, **kwargs):
        if not saml_enabled():
            raise Http404("SAML is not configured.")
        return super().dispatch(request, *args, **kwargs)


class SamlSignInView(_Enabled, LoginView):
    """Sends the browser to the IdP with an AuthnRequest (remembered as outstanding)."""


class SamlAssertionView(_Enabled, AssertionConsumerServiceView):
    """The IdP's answer: signed assertion checked by pysaml2, then Quorum's account rules."""

    def handle_acs_failure(self, request, exception=None, status=403, **kwargs):
        reason = getattr(request, "quorum_sso_refusal", "")
        if not reason:
            logger.info("SAML response refused: %r", exception)
            reason = (
                "The identity provider's answer was refused: it is unsigned, tampered with, expired, "
                "meant for another service, or answers a sign-in this browser did not start."
            )
        return sso_error(request, reason, status=status)

    def post(self, request, *args, **kwargs):
        if not request.POST.get("SAMLResponse"):
            return sso_error(request, "The sign-in answer lacks its SAMLResponse; start again.", status=400)
        return super().post(request, *args, **kwargs)

    def post_login_hook(self, request, user, session_info) -> None:
        account = getattr(request, "quorum_idp_account", None)
        if account is not None:
            sso_sign_in_record(request=request, user=user, account=account)


class SamlMetadataView(_Enabled, MetadataView):
    """Quorum's service-provider metadata, to register at the IdP."""
