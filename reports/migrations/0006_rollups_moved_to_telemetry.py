"""Rollups moved to telemetry (``telemetry.0003`` took over their tables): forget them here,
keep the ``view_reports`` permission in reports (it sat on ``RollupState``; now on
``AgentInvestment``), and move the rollups' content types to telemetry so their permissions
follow and no stale content type is left behind."""

from django.db import migrations

MOVED = ("hourlyrollup", "dailyrollup", "rollupstate")


def move(apps, schema_editor, source="reports", target="telemetry", holder="agentinvestment", old="rollupstate"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    if source == "reports":
        # Forward: the permission leaves the rollup state before its content type changes app.
        new_holder, _ = ContentType.objects.get_or_create(app_label="reports", model=holder)
        Permission.objects.filter(
            content_type__app_label="reports", content_type__model=old, codename="view_reports"
        ).update(content_type=new_holder)
    for model in MOVED:
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)
    if source == "telemetry":
        # Backward: the permission returns to the rollup state, back in reports.
        state_type = ContentType.objects.get(app_label="reports", model=old)
        Permission.objects.filter(
            content_type__app_label="reports", content_type__model=holder, codename="view_reports"
        ).update(content_type=state_type)


def move_back(apps, schema_editor):
    move(apps, schema_editor, source="telemetry", target="reports")


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0005_reviewdossier_moved_to_registry"),
        ("telemetry", "0003_rollups_from_reports"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="agentinvestment",
            options={
                "permissions": [("view_reports", "Can read ROI, portfolio, review calendar and maturity reports")]
            },
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="HourlyRollup"),
                migrations.DeleteModel(name="DailyRollup"),
                migrations.DeleteModel(name="RollupState"),
            ],
        ),
        migrations.RunPython(move, move_back),
    ]
