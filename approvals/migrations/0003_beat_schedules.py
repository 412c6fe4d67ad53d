"""Data migration: beat schedules for expiring requests and retrying blocked ones.

Both tasks are idempotent (row lock + re-check), so an overlap or a redelivery is harmless."""

from django.db import migrations

SCHEDULES = [
    ("approvals: expire requests", "approvals.tasks.expire_requests", 5, 4 * 60),
    ("approvals: retry approved requests blocked by a gate", "approvals.tasks.retry_blocked_requests", 15, 14 * 60),
]


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minutes, expires in SCHEDULES:
        every, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": every, "enabled": True, "expire_seconds": expires}
        )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0002_seed_policies_and_permissions"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(create, remove)]
