"""Agents' API keys moved to the registry (``registry.0006`` took over their table): forget the
model here and move its content type to the registry, so its permissions, the roles and people
holding them, and its audit-log entries follow, and no stale content type is left behind.

A migration that runs between ``registry.0006`` and this one may already have made the
registry's content type (any step that creates permissions does); then the telemetry one is
folded into it: grants move to the registry's permission of the same codename and the stale
rows are deleted. Reversible the same way."""

from django.db import migrations

MODEL = "agentapikey"


def _fold(apps, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    LogEntry = apps.get_model("auditlog", "LogEntry")
    old = ContentType.objects.filter(app_label=source, model=MODEL).first()
    if old is None:
        return
    new = ContentType.objects.filter(app_label=target, model=MODEL).first()
    if new is None:
        old.app_label = target
        old.save(update_fields=["app_label"])
        return
    LogEntry.objects.filter(content_type=old).update(content_type=new)
    for permission in Permission.objects.filter(content_type=old):
        twin = Permission.objects.filter(content_type=new, codename=permission.codename).first()
        if twin is None:
            permission.content_type = new
            permission.save(update_fields=["content_type"])
            continue
        for group in permission.group_set.all():
            group.permissions.add(twin)
        for user in permission.user_set.all():
            user.user_permissions.add(twin)
        for name in ("UserObjectPermission", "GroupObjectPermission"):
            apps.get_model("guardian", name).objects.filter(permission=permission).update(
                permission=twin, content_type=new
            )
        permission.delete()
    old.delete()


def move(apps, schema_editor):
    _fold(apps, "telemetry", "registry")


def move_back(apps, schema_editor):
    _fold(apps, "registry", "telemetry")


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0006_run_agent_received_index"),
        ("registry", "0006_agentapikey_from_telemetry"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("auditlog", "0001_initial"),
        ("guardian", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="AgentAPIKey")]),
        migrations.RunPython(move, move_back),
    ]
