"""Data migration: the governance board scores intakes (``compliance.score_intake``).

Idempotent; the test suite re-runs it after a flush (its name says "permission")."""

from django.db import migrations

ROLE_PERMISSIONS = {"Governance board": ["score_intake"]}


def seed(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("compliance")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for codename in codenames:
            group.permissions.add(Permission.objects.get(content_type__app_label="compliance", codename=codename))


def unseed(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group = apps.get_model("auth", "Group").objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="compliance", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_intake_documents_assessments")]

    operations = [migrations.RunPython(seed, unseed)]
