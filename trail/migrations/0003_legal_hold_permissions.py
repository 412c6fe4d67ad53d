"""Data migration: who may set and release legal holds (the governance board and auditors: a
hold keeps records, it deletes nothing, and auditors are the ones who are asked to preserve
evidence), and who may change retention periods (the governance board)."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "Governance board": ["add_legalhold", "change_legalhold", "change_retentionrule", "view_legalhold"],
    "Auditor": ["add_legalhold", "change_legalhold", "view_legalhold"],
}


def seed(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("trail")
    previous = getattr(app_config, "models_module", None)
    app_config.models_module = previous or True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = previous

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for codename in codenames:
            group.permissions.add(Permission.objects.get(content_type__app_label="trail", codename=codename))


def unseed(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in ROLE_PERMISSIONS.items():
        group = apps.get_model("auth", "Group").objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="trail", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("trail", "0002_seed_retention_defaults"), ("registry", "0002_seed_roles")]

    operations = [migrations.RunPython(seed, unseed)]
