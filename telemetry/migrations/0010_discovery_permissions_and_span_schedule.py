"""Data migration: the governance board reviews the discovery queue and issues discovery keys;
the beat schedule that keeps span partitions made ahead and drops those past retention."""

from django.db import migrations

BOARD = "Governance board"
BOARD_PERMISSIONS = (
    "view_discovery",
    "review_discovery",
    "view_discoverykey",
    "add_discoverykey",
    "change_discoverykey",
)
TASK = "telemetry.spans_maintain"
NAME = "telemetry: span partitions ahead and retention"


def seed(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="telemetry", codename__in=BOARD_PERMISSIONS)
    for group in Group.objects.filter(name=BOARD):
        group.permissions.add(*permissions)

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.update_or_create(
        name=NAME, defaults={"task": TASK, "interval": every_hour, "enabled": True, "expire_seconds": 50 * 60}
    )


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0009_discovery"),
        ("registry", "0002_seed_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
