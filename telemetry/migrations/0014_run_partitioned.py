"""Runs move to a table partitioned by month of ``started_at``, online (issue 22, item 4).

The database work is ``run_table_convert`` in this migration's own frozen module
``_0014_run_table_convert`` (later changes to ``telemetry.run_partitions`` never reach it): a
batched copy into the new table while ingest writes to the old one, indexes built before it goes
live, a short lock for the rows that arrived meanwhile and the swap; not atomic, so each batch
commits on its own.
Django's state changes alongside: the idempotency key includes ``started_at`` (a partitioned
table's unique constraints must hold the partition key) and the single-column FK indexes go."""

from django.db import migrations, models


def forwards(apps, schema_editor):
    from telemetry.migrations._0014_run_table_convert import run_table_convert

    run_table_convert()


def backwards(apps, schema_editor):
    from telemetry.migrations._0014_run_table_convert import run_table_unconvert

    run_table_unconvert()


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("registry", "0013_toolpin"),
        ("telemetry", "0013_fiveminuterollup_provider_throttled"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.RemoveConstraint(model_name="run", name="telemetry_run_unique_run_id_per_agent"),
                migrations.AddConstraint(
                    model_name="run",
                    constraint=models.UniqueConstraint(
                        fields=("agent", "run_id", "started_at"), name="telemetry_run_unique_run_per_agent_start"
                    ),
                ),
                migrations.AlterField(
                    model_name="run",
                    name="agent",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="runs",
                        to="registry.agent",
                    ),
                ),
                migrations.AlterField(
                    model_name="run",
                    name="version",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The registered version the run was matched to, if any.",
                        null=True,
                        on_delete=models.deletion.PROTECT,
                        related_name="runs",
                        to="registry.agentversion",
                    ),
                ),
            ],
        ),
    ]
