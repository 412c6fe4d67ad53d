"""User token authentication for CI and scripts: ``Authorization: Token <prefix.secret>``."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from registry.audit import audit_actor_attach
from registry.models import UserAPIKey


class UserAPIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Token <key>'.")
        key = header[1].decode(errors="replace")
        try:
            # get_from_key lives on the manager, not on a QuerySet (select_related() would lose it).
            api_key = UserAPIKey.objects.get_from_key(key)
        except UserAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if api_key.has_expired or api_key.revoked:
            raise exceptions.AuthenticationFailed("Token expired or revoked.")
        if not api_key.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive.")
        # Coarse update: at most once a minute per key, so busy CI does not rewrite the row per call.
        now = timezone.now()
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
            UserAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        audit_actor_attach(api_key.user)
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


# Declares the token scheme in the OpenAPI schema (drf-spectacular finds subclasses by target_class).
class UserAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "registry.api.authentication.UserAPIKeyAuthentication"
    name = "userToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A person's API token: `Token <key>` (issued under Profile → API tokens).",
        }
