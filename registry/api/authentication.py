"""How principals authenticate to the API, in one place next to their keys (``registry.models``):

* people, for CI and scripts: ``Authorization: Token <prefix.secret>`` (:class:`UserAPIKeyAuthentication`);
* agents: ``Authorization: Bearer <prefix.secret>`` → the agent, nobody else
  (:class:`AgentKeyAuthentication`, :class:`IsAgent`). Every endpoint an agent calls (runs,
  controls, action requests) subclasses ``telemetry.api.views.AgentAPIView``, which lists only
  this class::

      class MyView(AgentAPIView):
          def get(self, request):
              ...  # request.user.agent is the calling Agent; request.auth the AgentAPIKey

  so a person's session cookie or user token is never taken for an agent (it answers 401);

and the limit on failed token authentications per client address, shared by both schemes."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.throttling import BaseThrottle

from registry import agent_key_cache
from registry.audit import audit_actor_attach
from registry.models import Agent, AgentAPIKey, UserAPIKey

FAILURE_WINDOW_SECONDS = 60
_UNREAD = object()  # the key stamp not read yet (None is a stamp: the cache holds none)


def _failure_key(request) -> tuple[str, float]:
    """The cache key counting this address's failures in the current minute, and the seconds left."""
    # DRF's client identity: REMOTE_ADDR, or X-Forwarded-For behind NUM_PROXIES trusted proxies.
    address = BaseThrottle().get_ident(request)
    now = time.time()
    window = int(now // FAILURE_WINDOW_SECONDS)
    return f"auth:failures:{address}:{window}", (window + 1) * FAILURE_WINDOW_SECONDS - now


def token_failures_check(request) -> None:
    """Refuse (429, ``Retry-After``) any token from an address that failed
    ``QUORUM_TOKEN_FAILURES_PER_MINUTE`` times this minute: guessing keys costs a minute per
    batch. Counted in the shared cache (Redis), so every web process sees one count."""
    key, wait = _failure_key(request)
    _failures_refuse(cache.get(key), wait)


def _failures_refuse(count, wait: float) -> None:
    if (count or 0) >= settings.QUORUM_TOKEN_FAILURES_PER_MINUTE:
        raise exceptions.Throttled(
            wait=max(1, int(wait + 0.999)), detail="Too many failed authentications from this address."
        )


def token_failure_record(request) -> None:
    key, _ = _failure_key(request)
    # add() creates the counter atomically; incr() is atomic on Redis.
    if not cache.add(key, 1, timeout=FAILURE_WINDOW_SECONDS + 5):
        try:
            cache.incr(key)
        except ValueError:  # expired in between
            cache.add(key, 1, timeout=FAILURE_WINDOW_SECONDS + 5)


class CountedFailures:
    """Mixin for a token scheme: refuse over-limit addresses before looking a key up, and count
    each ``AuthenticationFailed`` the scheme raises. ``check_token(request, key)`` does the work."""

    def authenticate_token(self, request, key: str):
        token_failures_check(request)
        try:
            return self.check_token(request, key)
        except exceptions.AuthenticationFailed:
            token_failure_record(request)
            raise


class UserAPIKeyAuthentication(CountedFailures, authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Token <key>'.")
        return self.authenticate_token(request, header[1].decode(errors="replace"))

    def check_token(self, request, key: str):
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

    def authenticate_token(self, request, key: str):
        """As :class:`CountedFailures`, with the address's failure count and the key cache's
        stamp read in one round trip to the shared cache (every agent request pays it)."""
        failure_key, wait = _failure_key(request)
        found = cache.get_many([failure_key, agent_key_cache.STAMP_KEY])
        _failures_refuse(found.get(failure_key), wait)
        try:
            return self.check_token(request, key, stamp=found.get(agent_key_cache.STAMP_KEY))
        except exceptions.AuthenticationFailed:
            token_failure_record(request)
            raise

    def check_token(self, request, key: str, stamp=_UNREAD):
        # Read the stamp before the row: a change committed after this read renews the stamp, so
        # an entry cached from an older row can never match the next request's stamp.
        if stamp is _UNREAD:
            stamp = agent_key_cache.key_stamp()
        api_key = agent_key_cache.cached_key(key, stamp)
        if api_key is not None and not api_key.has_expired:
            return AgentPrincipal(api_key.agent, api_key), api_key
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
            api_key.last_used_at = now
        agent_key_cache.cache_key(key, api_key, stamp)
        return AgentPrincipal(api_key.agent, api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="agents"'


class IsAgent(permissions.BasePermission):
    """Only an authenticated agent principal (never a person) passes."""

    message = "This endpoint is for agents: authenticate with 'Authorization: Bearer <agent key>'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, AgentPrincipal)


class AgentKeyScheme(OpenApiAuthenticationExtension):
    target_class = "registry.api.authentication.AgentKeyAuthentication"
    name = "agentKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "prefix.secret",
            "description": "An agent's own API key (issued on the agent card, shown once): "
            "`Authorization: Bearer <key>`. It acts only as its own agent.",
        }
