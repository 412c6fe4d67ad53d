"""Data migration: the beat schedule escalating overdue serious-incident reports (Art. 73).

Every 15 minutes: the shortest clock is 2 days, so an hour's miss matters; the
compare-and-set on ``escalated_at`` keeps it to one escalation per incident."""

from django.db import migrations

TASK = "compliance.tasks.escalate_overdue_serious_reports"
NAME = "compliance: overdue serious-incident reports"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=NAME, defaults={"task": TASK, "interval": every, "enabled": True, "expire_seconds": 14 * 60}
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0003_evidence_serious_drills"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
