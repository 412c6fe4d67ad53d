"""Data migration: the beat schedule that signs the audit chain's head every 15 minutes.

Idempotent (an unchanged head is not signed again), so an overlap or a redelivery is harmless."""

from django.db import migrations

NAME = "registry: sign the audit chain head"
TASK = "registry.audit_checkpoint"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=NAME, defaults={"task": TASK, "interval": every, "enabled": True, "expire_seconds": 14 * 60}
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0009_audit_chain_append_only_trigger"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(create, remove)]
