"""What puts entries on the audit chain that no service calls for explicitly (issue 15, item 1).

One hook point per source:

* django-auditlog's ``LogEntry`` rows (every registered model's create/update/delete, including
  people, roles and object permissions, ``rights_audit.py``): ``post_save`` of ``LogEntry``, so
  every path that writes one (model signals, many-to-many changes) is covered. Rights changes
  are named ``permission.grant`` / ``permission.revoke`` / ``permission.change``.
* Logins: Django's ``user_logged_in`` and ``user_login_failed`` signals (the username tried, the
  address; never the password).

The other sources append from their own service, where the event happens: decisions
(``approvals/apps.py``, ``post_save`` of ``Decision``), gate decisions (``actions/services.py``),
kill-switch pulls and re-enables (``registry/services.py``), break-glass
(``approvals/break_glass.py``). Object types chained by their own hook are skipped here
(:func:`chained_elsewhere`), so an event is never on the chain twice.
"""

from __future__ import annotations

from contextvars import ContextVar

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from .audit_chain import chain_append
from .choices import ActorKind

_LOGENTRY_ACTIONS = {
    LogEntry.Action.CREATE: "create",
    LogEntry.Action.UPDATE: "update",
    LogEntry.Action.DELETE: "delete",
}
_PERMISSION_TYPES = {"guardian.userobjectpermission", "guardian.groupobjectpermission"}
_RIGHTS_FIELDS = {"groups", "user_permissions", "permissions", "is_superuser", "is_staff", "is_active"}
_SKIPPED_TYPES: set[str] = set()

# The instance auditlog is about to log (its pre_log signal): the LogEntry knows only the
# object's type and key, and the instance's ``agent_id`` files the entry under its agent
# without another query.
_logged_instance: ContextVar[object | None] = ContextVar("audit_chain_logged_instance", default=None)


def chained_elsewhere(object_type: str) -> None:
    """Name an ``app_label.model`` whose auditlog entries are not chained, because its own hook
    chains the event with more detail (approvals' decisions)."""
    _SKIPPED_TYPES.add(object_type)


def remember_logged_instance(sender, instance, **kwargs) -> None:
    _logged_instance.set(instance)


def _logentry_action(object_type: str, entry: LogEntry) -> str:
    action = _LOGENTRY_ACTIONS.get(entry.action, "access")
    if object_type in _PERMISSION_TYPES:
        return {"create": "permission.grant", "delete": "permission.revoke"}.get(action, "permission.change")
    if object_type in {"auth.user", "auth.group"} and _RIGHTS_FIELDS & set(entry.changes_dict or {}):
        return "permission.change"
    return action


def _logentry_agent_id(object_type: str, entry: LogEntry) -> int | None:
    if object_type == "registry.agent":
        return int(entry.object_pk) if str(entry.object_pk).isdigit() else None
    instance = _logged_instance.get()
    # str() on both sides: auditlog's log_create leaves the entry's object_pk as the instance's
    # own (integer) key until the row is read back, so comparing with a string never matched.
    same_object = instance is not None and str(instance.pk) == str(entry.object_pk)
    if same_object and type(instance)._meta.label_lower == object_type:
        agent_id = getattr(instance, "agent_id", None)
        return agent_id if isinstance(agent_id, int) else None
    return None


def chain_logentry(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    """Chain one auditlog entry (``post_save`` of ``LogEntry``)."""
    if not created:
        return
    content_type = ContentType.objects.get_for_id(instance.content_type_id)  # cached, no query
    object_type = f"{content_type.app_label}.{content_type.model}"
    if object_type in _SKIPPED_TYPES:
        return
    actor = instance.actor if instance.actor_id else None
    chain_append(
        action=_logentry_action(object_type, instance),
        actor=actor,
        agent=_logentry_agent_id(object_type, instance),
        object_type=object_type,
        object_id=instance.object_pk,
        summary=f"{_LOGENTRY_ACTIONS.get(instance.action, 'access')} {instance.object_repr}"[:500],
        payload={
            "log_entry": instance.pk,
            "object_repr": instance.object_repr,
            "changes": instance.changes_dict,
            "remote_addr": instance.remote_addr,
            "additional_data": instance.additional_data,
            "recorded_at": instance.timestamp,
        },
    )


def _address(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def chain_login(sender, request, user, **kwargs) -> None:
    chain_append(
        action="login",
        actor=user,
        object_type="auth.user",
        object_id=str(user.pk),
        summary=f"{user.get_username()} signed in",
        payload={"remote_addr": _address(request)},
    )


def chain_login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str((credentials or {}).get("username", ""))[:150]
    chain_append(
        action="login.failed",
        actor_kind=ActorKind.SYSTEM,
        actor=None,
        object_type="auth.user",
        summary=f"failed sign-in as {username!r}",
        payload={"username": username, "remote_addr": _address(request)},
    )
