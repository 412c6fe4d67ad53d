"""Index for a drift check's catch-up: one agent's runs received since the rollup watermark.
Built concurrently, so ingest keeps writing while it builds on a large table."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("telemetry", "0005_rollup_task_name"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(fields=["agent", "received_at"], name="telemetry_run_agent_received"),
        ),
    ]
