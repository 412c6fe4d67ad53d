"""Data migration: incident permissions for the built-in roles (table in incidents/roles.py)."""

from django.db import migrations


def add_permissions(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make sure ours exist now.
    app_config = apps.get_app_config("incidents")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    from incidents.roles import ROLE_PERMISSIONS

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for dotted in perms:
            app_label, codename = dotted.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_permissions(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    perms = Permission.objects.filter(content_type__app_label="incidents")
    for group in Group.objects.all():
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0001_initial"),
        ("registry", "0002_seed_roles"),
    ]

    operations = [migrations.RunPython(add_permissions, remove_permissions)]
