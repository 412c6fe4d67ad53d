"""Who may do what to which agent: role (model permission) or per-agent (guardian)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from .models import Agent


def user_has_agent_perm(user: AbstractBaseUser | AnonymousUser, codename: str, agent: Agent) -> bool:
    """True when the user holds ``registry.<codename>`` globally or on this agent.

    Django's ModelBackend ignores object checks and guardian ignores global ones,
    so both are asked."""
    if not user.is_authenticated or not user.is_active:
        return False
    perm = f"registry.{codename}"
    return user.has_perm(perm) or user.has_perm(perm, agent)


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
