"""Data migration: auditors and the governance board read the audit chain (issue 15).

``view_auditentry`` (the entries, the explorer, evidence exports) and ``view_auditcheckpoint``
(the signed checkpoints). Idempotent; the test suite re-runs it after a flush (its name says
"permission")."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "Governance board": ["view_auditentry", "view_auditcheckpoint"],
    "Auditor": ["view_auditentry", "view_auditcheckpoint"],
}


def seed(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("registry")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for codename in codenames:
            group.permissions.add(Permission.objects.get(content_type__app_label="registry", codename=codename))


def unseed(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group = apps.get_model("auth", "Group").objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="registry", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("registry", "0010_audit_checkpoint_schedule")]

    operations = [migrations.RunPython(seed, unseed)]
