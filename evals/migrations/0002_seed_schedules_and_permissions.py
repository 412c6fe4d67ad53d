"""Data migration: the eval and drift-check schedules (django-celery-beat, editable in the
admin) and the judge-rating permission for the roles that calibrate judges."""

import json

from django.db import migrations

SCHEDULES = [
    # name, task, crontab (minute, hour, day_of_week) or interval minutes, kwargs, expires (seconds)
    (
        "evals: daily evals of tier-1 production agents",
        "evals.tasks.evals_scheduled",
        ("0", "3", "*"),
        {"tiers": [1], "period": "day"},
        23 * 3600,
    ),
    (
        "evals: weekly evals of tier-2 and tier-3 production agents",
        "evals.tasks.evals_scheduled",
        ("0", "4", "1"),
        {"tiers": [2, 3], "period": "week"},
        6 * 24 * 3600,
    ),
    ("evals: drift checks of production agents", "evals.tasks.drift_checks_all", 5, {}, 4 * 60),
]

RATING_ROLES = ("Governance board", "Approver", "Agent owner")


def seed(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    for name, task, when, kwargs, expires in SCHEDULES:
        schedule = {}
        if isinstance(when, int):
            schedule["interval"], _ = IntervalSchedule.objects.get_or_create(every=when, period="minutes")
        else:
            minute, hour, dow = when
            schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week=dow, day_of_month="*", month_of_year="*", timezone="UTC"
            )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": task,
                "kwargs": json.dumps(kwargs),
                "expire_seconds": expires,
                "enabled": True,
                **schedule,
            },
        )

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perm = Permission.objects.get(content_type__app_label="evals", codename="rate_judge")
    for group in Group.objects.filter(name__in=RATING_ROLES):
        group.permissions.add(perm)


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("evals", "0001_initial"),
        ("registry", "0002_seed_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
