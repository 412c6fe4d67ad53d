"""Data migration: the rollup pass is telemetry's task now (``telemetry.rollup_refresh``, was
``reports.rollup_refresh``); point its beat schedule (``reports.0003_beat_schedules``) at the new name."""

from django.db import migrations

RENAMES = {"reports.rollup_refresh": "telemetry.rollup_refresh"}


def rename(apps, schema_editor, mapping=RENAMES):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for old, new in mapping.items():
        PeriodicTask.objects.filter(task=old).update(task=new)


def unrename(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMES.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0004_fiveminuterollup"),
        ("reports", "0003_beat_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(rename, unrename)]
