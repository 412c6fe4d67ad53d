"""Data migration: who defines SLOs and monitors (the governance board and operators, any scope;
owners for their own agents by their per-agent right) and who manages alert channels (the board).
Idempotent; the test suite re-runs it after a flush (its name says "permission")."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "Governance board": [
        ("monitors", "add_monitor"),
        ("monitors", "change_monitor"),
        ("monitors", "add_slo"),
        ("monitors", "change_slo"),
        ("registry", "add_alertchannel"),
        ("registry", "view_alertchannel"),
    ],
    "Operator": [
        ("monitors", "add_monitor"),
        ("monitors", "change_monitor"),
        ("monitors", "add_slo"),
        ("monitors", "change_slo"),
    ],
}


def seed(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for label in ("registry", "monitors"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, codename in perms:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def unseed(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group = apps.get_model("auth", "Group").objects.filter(name=role).first()
        if group is not None:
            for app_label, codename in perms:
                group.permissions.remove(
                    *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
                )


class Migration(migrations.Migration):
    dependencies = [("monitors", "0002_evaluate_schedule"), ("registry", "0014_alert_channels")]

    operations = [migrations.RunPython(seed, unseed)]
