"""Data migration: the beat schedule of the overdue-work reminder.

It runs hourly so a missed hour (worker down, deploy) is caught the same day; the
(recipient, day) reminder row keeps it to one e-mail per person per day."""

from django.db import migrations

TASK = "incidents.tasks.send_overdue_reminders"
NAME = "incidents: overdue postmortems and action items"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={"task": TASK, "interval": every_hour, "enabled": True, "expire_seconds": 50 * 60},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0002_role_permissions"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
