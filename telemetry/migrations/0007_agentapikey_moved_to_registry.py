"""Agents' API keys moved to the registry (``registry.0006`` took over their table): forget the
model here and move its content type to the registry, so its permissions and audit-log entries
follow and no stale content type is left behind. Reversible."""

from django.db import migrations


def move(apps, schema_editor, source="telemetry", target="registry"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=target, model="agentapikey").exists():
        ContentType.objects.filter(app_label=source, model="agentapikey").update(app_label=target)


def move_back(apps, schema_editor):
    move(apps, schema_editor, source="registry", target="telemetry")


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0006_run_agent_received_index"),
        ("registry", "0006_agentapikey_from_telemetry"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="AgentAPIKey")]),
        migrations.RunPython(move, move_back),
    ]
