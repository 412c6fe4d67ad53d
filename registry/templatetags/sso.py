"""``{% sso_sign_in %}``: the login page's "Sign in with <provider>" buttons, one per configured
identity provider (none when single sign-on is not configured), and a note when local passwords
are turned off."""

from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import reverse

from ..sso.oidc import oidc_enabled
from ..sso.saml import saml_enabled

register = template.Library()


@register.inclusion_tag("registration/sso_buttons.html", takes_context=True)
def sso_sign_in(context) -> dict:
    next_url = context.get("next") or ""
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    providers = []
    if oidc_enabled():
        providers.append({"name": settings.QUORUM_OIDC_PROVIDER_NAME, "url": reverse("sso:oidc_login") + query})
    if saml_enabled():
        providers.append({"name": settings.QUORUM_SAML_PROVIDER_NAME, "url": reverse("sso:saml_login") + query})
    return {"providers": providers, "local_passwords": settings.QUORUM_LOCAL_PASSWORDS}
