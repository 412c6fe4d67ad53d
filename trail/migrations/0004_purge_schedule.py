"""Data migration: the nightly retention purge (03:30 UTC), which replaces the action gate's own
daily parameter purge (that one knew neither the portfolio's period nor legal holds)."""

from django.db import migrations

NAME = "trail: nightly retention purge"
TASK = "trail.tasks.retention_purge"
REPLACED = ("actions: purge parameters past retention", "actions.tasks.purge_action_parameters")


def seed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=NAME, defaults={"task": TASK, "crontab": nightly, "enabled": True, "expire_seconds": 20 * 3600}
    )
    PeriodicTask.objects.filter(name=REPLACED[0]).delete()


def unseed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask.objects.filter(name=NAME).delete()
    daily, _ = IntervalSchedule.objects.get_or_create(every=24 * 60, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=REPLACED[0],
        defaults={"task": REPLACED[1], "interval": daily, "enabled": True, "expire_seconds": 23 * 3600},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("trail", "0003_legal_hold_permissions"),
        ("actions", "0003_rename_schedule_task_paths"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
