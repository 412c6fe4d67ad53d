"""Data migration: the gate moved from ``approvals/actions`` to the top-level ``actions`` app, so its
Celery task names (derived from the module path) changed; point the beat schedules at the new names."""

from django.db import migrations

RENAMES = {
    "approvals.actions.tasks.expire_pending_actions": "actions.tasks.expire_pending_actions",
    "approvals.actions.tasks.purge_action_parameters": "actions.tasks.purge_action_parameters",
}


def rename(apps, schema_editor, mapping=RENAMES):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for old, new in mapping.items():
        PeriodicTask.objects.filter(task=old).update(task=new)


def unrename(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMES.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("actions", "0002_permissions_and_schedules"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(rename, unrename)]
