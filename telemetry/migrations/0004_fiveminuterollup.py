"""Five-minute rollups, the grain of the drift checks' windows (a new table)."""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models

import telemetry.latency


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("telemetry", "0003_rollups_from_reports"),
    ]

    operations = [
        migrations.CreateModel(
            name="FiveMinuteRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("bucket_start", models.DateTimeField()),
                ("runs", models.PositiveIntegerField(default=0)),
                ("successes", models.PositiveIntegerField(default=0, help_text="Runs whose outcome is resolved.")),
                ("escalations", models.PositiveIntegerField(default=0)),
                ("failures", models.PositiveIntegerField(default=0)),
                (
                    "blocked",
                    models.PositiveIntegerField(default=0, help_text="Runs whose outcome is blocked (by policy)."),
                ),
                ("abandoned", models.PositiveIntegerField(default=0)),
                (
                    "errors",
                    models.PositiveIntegerField(
                        default=0, help_text="Runs whose technical status is error or timeout."
                    ),
                ),
                (
                    "human_touched",
                    models.PositiveIntegerField(
                        default=0, help_text="Runs escalated to a human or with human handling minutes."
                    ),
                ),
                ("policy_blocks", models.PositiveBigIntegerField(default=0)),
                ("tool_calls", models.PositiveBigIntegerField(default=0)),
                ("input_tokens", models.PositiveBigIntegerField(default=0)),
                ("output_tokens", models.PositiveBigIntegerField(default=0)),
                ("cost_usd", models.DecimalField(decimal_places=6, default=Decimal("0"), max_digits=18)),
                ("human_minutes", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=16)),
                ("latency_sum_ms", models.PositiveBigIntegerField(default=0)),
                ("latency_hist", models.JSONField(default=telemetry.latency.empty_histogram)),
                ("computed_at", models.DateTimeField(auto_now=True)),
                (
                    "errored_or_failed",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="Runs that errored or timed out, or whose outcome is failed: the drift error rate.",
                    ),
                ),
                (
                    "agent",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="registry.agent"
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="registry.agentversion",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["agent", "bucket_start"], name="telemetry_f_agent_i_e4f145_idx"),
                    models.Index(fields=["bucket_start"], name="telemetry_f_bucket__e05648_idx"),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("version__isnull", False)),
                        fields=("agent", "version", "bucket_start"),
                        name="telemetry_5min_unique_version_bucket",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("version__isnull", True)),
                        fields=("agent", "bucket_start"),
                        name="telemetry_5min_unique_unversioned_bucket",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("successes__lte", models.F("runs"))),
                        name="telemetry_5min_successes_le_runs",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("errored_or_failed__lte", models.F("runs"))),
                        name="telemetry_5min_errored_le_runs",
                    ),
                ],
            },
        ),
    ]
