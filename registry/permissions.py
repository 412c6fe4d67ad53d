"""Who may do what to which agent: role (model permission) or per-agent (guardian)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from guardian.core import ObjectPermissionChecker

from .models import Agent


def user_has_agent_perm(user: AbstractBaseUser | AnonymousUser, codename: str, agent: Agent | None) -> bool:
    """True when the user holds ``registry.<codename>`` globally or on this agent.

    Django's ModelBackend ignores object checks and guardian ignores global ones,
    so both are asked."""
    if not user.is_authenticated or not user.is_active:
        return False
    perm = f"registry.{codename}"
    if user.has_perm(perm):
        return True
    return agent is not None and _object_permissions(user).has_perm(perm, agent)  # None: a fleet-wide ask


def _object_permissions(user) -> ObjectPermissionChecker:
    """One guardian checker per user object: it reads the user's (and groups') permissions on an
    agent once and answers every later check of that agent from memory. Asked through
    ``user.has_perm(perm, obj)``, guardian builds a new checker per call: an agent card asked the
    same two queries 18 times. Like Django's own cache of global permissions on the user object,
    a change shows on a freshly loaded user (every request loads its own)."""
    checker = getattr(user, "_quorum_object_permissions", None)
    if checker is None:
        checker = ObjectPermissionChecker(user)
        user._quorum_object_permissions = checker
    return checker


def user_can_edit_agent(user, agent: Agent) -> bool:
    return user_has_agent_perm(user, "change_agent", agent)


def user_can_operate_agent(user, agent: Agent) -> bool:
    return user_has_agent_perm(user, "operate_agent", agent)


def user_can_approve_for_agent(user, agent: Agent) -> bool:
    return user_has_agent_perm(user, "approve_agent", agent)


def user_role_names(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(user.groups.values_list("name", flat=True))
