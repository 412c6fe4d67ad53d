"""Data migration: opening due reviews moved from reports to registry, so the beat schedule
created by ``reports.0003`` points at the task's new name."""

from django.db import migrations

RENAMES = {"reports.reviews_open_due": "registry.reviews_open_due"}


def rename(apps, schema_editor, mapping=RENAMES):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for old, new in mapping.items():
        PeriodicTask.objects.filter(task=old).update(task=new)


def unrename(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMES.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_reviewdossier_from_reports"),
        ("reports", "0003_beat_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(rename, unrename)]
