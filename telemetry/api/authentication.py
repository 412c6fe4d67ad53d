"""Agents as principals: ``Authorization: Bearer <prefix.secret>`` → the agent, nobody else.

Every endpoint an agent calls (runs, controls, action requests) subclasses
``telemetry.api.views.AgentAPIView``, which lists only this class::

    class MyView(AgentAPIView):
        def get(self, request):
            ...  # request.user.agent is the calling Agent; request.auth the AgentAPIKey

so a person's session cookie or user token is never taken for an agent (it answers 401)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from registry.api.authentication import CountedFailures
from registry.models import Agent, AgentAPIKey

LAST_USED_RESOLUTION_SECONDS = 60


class AgentPrincipal:
    """``request.user`` for an agent: authenticated, not a person, bound to one agent."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_agent = True

    def __init__(self, agent: Agent, key: AgentAPIKey):
        self.agent = agent
        self.key = key
        self.pk = None
        self.id = None
        self.username = f"agent:{agent.slug}"

    def __str__(self) -> str:
        return self.username

    def has_perm(self, perm, obj=None) -> bool:  # an agent holds no console permission
        return False

    def get_username(self) -> str:
        return self.username


class AgentKeyAuthentication(CountedFailures, authentication.BaseAuthentication):
    """Failed attempts count against the client address (``QUORUM_TOKEN_FAILURES_PER_MINUTE``,
    shared with people's tokens): past the limit the address gets 429 until the minute ends."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <agent key>'.")
        return self.authenticate_token(request, header[1].decode(errors="replace"))

    def check_token(self, request, key: str):
        prefix, _, _ = key.partition(".")
        api_key = AgentAPIKey.objects.select_related("agent").filter(prefix=prefix).first() if prefix else None
        # The hash is checked before revealing anything about the key's state.
        if api_key is None or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed("Invalid agent key.")
        if api_key.revoked:
            raise exceptions.AuthenticationFailed("This agent key has been revoked.")
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This agent key has expired; ask the owner to rotate it.")
        # Coarse on purpose: one write a minute per key, not one per run.
        now = timezone.now()
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
            AgentAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return AgentPrincipal(api_key.agent, api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="agents"'


class IsAgent(permissions.BasePermission):
    """Only an authenticated agent principal (never a person) passes."""

    message = "This endpoint is for agents: authenticate with 'Authorization: Bearer <agent key>'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, AgentPrincipal)


class AgentKeyScheme(OpenApiAuthenticationExtension):
    target_class = "telemetry.api.authentication.AgentKeyAuthentication"
    name = "agentKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "prefix.secret",
            "description": "An agent's own API key (issued on the agent card, shown once): "
            "`Authorization: Bearer <key>`. It acts only as its own agent.",
        }
