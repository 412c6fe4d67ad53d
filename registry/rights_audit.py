"""People and rights are audited (issue 13, item 6): who may approve, for which agents, is as
much a control as the agents' own settings, so every change to it is recorded with the acting
user like any other governed change.

Recorded by django-auditlog (registered from ``RegistryConfig.ready``): a person's activation,
staff and superuser flags and their role (group) memberships and direct permissions; a role's
permissions; and guardian's per-object grants and revocations (``UserObjectPermission``,
``GroupObjectPermission``). Shown on the agent card's history (the rights on that agent, see
:func:`agent_rights_entries`) and on the person's admin page (:func:`person_rights_history`).
"""

from __future__ import annotations

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from guardian.models import GroupObjectPermission, UserObjectPermission

# What a person's record shows; never the password hash or the login clock.
PERSON_FIELDS = ["username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser"]


def rights_audit_register() -> None:
    """Register people, roles and object permissions with auditlog (idempotent)."""
    User = get_user_model()
    if not auditlog.contains(User):
        auditlog.register(User, include_fields=PERSON_FIELDS, m2m_fields={"groups", "user_permissions"})
    if not auditlog.contains(Group):
        auditlog.register(Group, m2m_fields={"permissions"})
    for model in (UserObjectPermission, GroupObjectPermission):
        if not auditlog.contains(model):
            auditlog.register(model)


def agent_rights_entries(agent) -> Q:
    """The audit entries of object permissions granted or revoked on ``agent`` (a filter on
    ``LogEntry``). guardian names the object in its string form: ``<agent> | <who> | <codename>``;
    the object's key in the recorded fields keeps two agents of one name apart."""
    ct = ContentType.objects.get_for_models(UserObjectPermission, GroupObjectPermission)
    return Q(
        content_type__in=[ct[UserObjectPermission], ct[GroupObjectPermission]],
        object_repr__startswith=f"{agent} | ",
        changes__object_pk__contains=[str(agent.pk)],
    )


def person_rights_history(user, limit: int = 100) -> QuerySet:
    """A person's audit trail, newest first: their own record (activation, superuser, roles,
    direct permissions), role memberships changed from the role's side, and object permissions
    granted to or revoked from them."""
    User = get_user_model()
    ct = ContentType.objects.get_for_models(User, Group, UserObjectPermission)
    name = str(user)
    return (
        LogEntry.objects.filter(
            Q(content_type=ct[User], object_id=user.pk)
            | Q(content_type=ct[Group], changes__groups__objects__contains=[name])
            | Q(content_type=ct[UserObjectPermission], object_repr__contains=f" | {name} | ")
        )
        .select_related("actor", "content_type")
        .order_by("-timestamp")[:limit]
    )


def entry_changes_words(entry: LogEntry) -> str:
    """One line for an entry's changes: ``field: old → new`` or, for a membership,
    ``groups: add Approver`` (auditlog's own ``changes_str`` cannot print those)."""
    parts = []
    for name, value in (entry.changes_dict or {}).items():
        if isinstance(value, dict):
            parts.append(f"{name}: {value.get('operation', '')} {', '.join(map(str, value.get('objects', [])))}")
        elif isinstance(value, list | tuple) and len(value) == 2:
            parts.append(f"{name}: {value[0]} → {value[1]}")
    return "; ".join(parts)
