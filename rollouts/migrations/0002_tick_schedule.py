"""Data migration: the rollout task's beat schedule (django-celery-beat, editable in the admin).

The task is idempotent (plan row lock + re-check), so an overlap or a redelivery is harmless."""

from django.db import migrations

SCHEDULES = [("rollouts: advance or stop rollout plans on their gates", "rollouts.tasks.rollout_plans_tick", 5, 4 * 60)]


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
        ("rollouts", "0001_plans"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(create, remove)]
