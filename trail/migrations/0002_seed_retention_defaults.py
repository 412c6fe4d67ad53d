"""Data migration: the default retention period of each record family (frozen here).

Audit entries and decisions, and closed incidents: 7 years; runs: 13 months (over the EU AI
Act's six months for logs, Art. 19, 26(6)); action parameters and run metadata: 90 days.
Idempotent: an existing row (a period someone changed) is left alone."""

from django.db import migrations

DEFAULTS = {
    "runs": 396,
    "run_metadata": 90,
    "action_parameters": 90,
    "audit_entries": 2557,
    "incidents": 2557,
}


def seed(apps, schema_editor):
    RetentionRule = apps.get_model("trail", "RetentionRule")
    for family, days in DEFAULTS.items():
        RetentionRule.objects.get_or_create(family=family, defaults={"days": days})


def unseed(apps, schema_editor):
    apps.get_model("trail", "RetentionRule").objects.filter(updated_by__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("trail", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
