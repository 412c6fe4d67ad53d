"""Data migration: the reports' beat schedules (editable in the admin afterwards).

Each entry expires before its next tick, so a backlog after an outage never piles up."""

from django.db import migrations

SCHEDULES = [
    # name, task, every (seconds), expires (seconds)
    ("reports: refresh rollups", "reports.rollup_refresh", 300, 240),
    ("reports: budget burn check", "reports.budget_check", 3600, 3000),
    ("reports: open due reviews", "reports.reviews_open_due", 3600, 3000),
]


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, every, expires in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": interval, "expire_seconds": expires, "enabled": True}
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_view_reports_permission"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
