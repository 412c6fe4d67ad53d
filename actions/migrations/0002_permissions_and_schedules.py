"""Data migration: who may read and edit action policies, and the gate's beat schedules.

The governance board edits policies (each save is a new version); every reading role may see
policies and action requests. Expiring pending actions runs every minute (they wait minutes,
not days); purging parameters past retention runs daily. Both tasks are idempotent."""

from django.db import migrations

BOARD = "Governance board"
READERS = ["Approver", "Agent owner", "Operator", "Executive", "Auditor"]
VIEW = ["view_actionpolicyversion", "view_actionrequest"]
ROLE_PERMISSIONS = {BOARD: [*VIEW, "add_actionpolicyversion"], **{role: VIEW for role in READERS}}

SCHEDULES = [
    ("actions: expire pending runtime actions", "approvals.actions.tasks.expire_pending_actions", 1, 50),
    ("actions: purge parameters past retention", "approvals.actions.tasks.purge_action_parameters", 24 * 60, 23 * 3600),
]


def seed(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("actions")
    # A historical app config has no models module (create_permissions would skip it); the real
    # one (tests call seed() after a flush) must keep its own.
    previous = getattr(app_config, "models_module", None)
    app_config.models_module = previous or True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = previous

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for codename in codenames:
            group.permissions.add(Permission.objects.get(content_type__app_label="actions", codename=codename))

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minutes, expires in SCHEDULES:
        every, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": every, "enabled": True, "expire_seconds": expires}
        )


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("actions", "0001_initial"),
        ("registry", "0002_seed_roles"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
