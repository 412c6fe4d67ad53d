"""Data migration: every built-in role may read the reports (executives, the board and
auditors first of all; owners, approvers and operators read their agents' ROI too)."""

from django.db import migrations

READERS = ["Governance board", "Executive", "Auditor", "Agent owner", "Approver", "Operator"]


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("reports")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perm = Permission.objects.get(content_type__app_label="reports", codename="view_reports")
    for name in READERS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(perm)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="reports", codename="view_reports").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("registry", "0002_seed_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
