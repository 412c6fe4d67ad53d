"""``ReviewDossier`` moved to registry (``registry.0003`` renamed its table): forget it here."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0004_daily_rollup_covering_index"),
        ("registry", "0003_reviewdossier_from_reports"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="ReviewDossier")]),
    ]
