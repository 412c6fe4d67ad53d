"""Rollups move from reports to telemetry, which owns runs: the models change app, their tables
(``reports_hourlyrollup``, ``reports_dailyrollup``, ``reports_rollupstate``) stay as they are. State
only here; ``reports.0006`` forgets them on its side and moves their content types."""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models

import telemetry.latency


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("telemetry", "0002_agent_keys_and_violations"),
        # The tables were created (and indexed) by reports; telemetry takes them over from there.
        ("reports", "0004_daily_rollup_covering_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RollupState",
                    fields=[
                        (
                            "id",
                            models.PositiveSmallIntegerField(
                                default=1, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("watermark", models.DateTimeField(blank=True, null=True)),
                        ("last_run_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "last_buckets",
                            models.PositiveIntegerField(
                                default=0, help_text="Hourly buckets recomputed by the last pass."
                            ),
                        ),
                    ],
                    options={
                        "db_table": "reports_rollupstate",
                        "constraints": [
                            models.CheckConstraint(condition=models.Q(("id", 1)), name="reports_rollupstate_singleton")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="HourlyRollup",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("bucket_start", models.DateTimeField()),
                        ("runs", models.PositiveIntegerField(default=0)),
                        (
                            "successes",
                            models.PositiveIntegerField(default=0, help_text="Runs whose outcome is resolved."),
                        ),
                        ("escalations", models.PositiveIntegerField(default=0)),
                        ("failures", models.PositiveIntegerField(default=0)),
                        (
                            "blocked",
                            models.PositiveIntegerField(
                                default=0, help_text="Runs whose outcome is blocked (by policy)."
                            ),
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
                        "db_table": "reports_hourlyrollup",
                        "indexes": [
                            models.Index(fields=["agent", "bucket_start"], name="reports_hou_agent_i_0917e2_idx"),
                            models.Index(fields=["bucket_start"], name="reports_hou_bucket__0de411_idx"),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("version__isnull", False)),
                                fields=("agent", "version", "bucket_start"),
                                name="reports_hourly_unique_version_bucket",
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(("version__isnull", True)),
                                fields=("agent", "bucket_start"),
                                name="reports_hourly_unique_unversioned_bucket",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("successes__lte", models.F("runs"))),
                                name="reports_hourly_successes_le_runs",
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="DailyRollup",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("bucket_start", models.DateTimeField()),
                        ("runs", models.PositiveIntegerField(default=0)),
                        (
                            "successes",
                            models.PositiveIntegerField(default=0, help_text="Runs whose outcome is resolved."),
                        ),
                        ("escalations", models.PositiveIntegerField(default=0)),
                        ("failures", models.PositiveIntegerField(default=0)),
                        (
                            "blocked",
                            models.PositiveIntegerField(
                                default=0, help_text="Runs whose outcome is blocked (by policy)."
                            ),
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
                        "db_table": "reports_dailyrollup",
                        "indexes": [
                            models.Index(fields=["agent", "bucket_start"], name="reports_dai_agent_i_4a8199_idx"),
                            models.Index(
                                fields=["bucket_start"],
                                include=(
                                    "agent",
                                    "runs",
                                    "successes",
                                    "escalations",
                                    "failures",
                                    "blocked",
                                    "abandoned",
                                    "errors",
                                    "human_touched",
                                    "policy_blocks",
                                    "tool_calls",
                                    "input_tokens",
                                    "output_tokens",
                                    "cost_usd",
                                    "human_minutes",
                                    "latency_sum_ms",
                                ),
                                name="reports_daily_period_cover",
                            ),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("version__isnull", False)),
                                fields=("agent", "version", "bucket_start"),
                                name="reports_daily_unique_version_bucket",
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(("version__isnull", True)),
                                fields=("agent", "bucket_start"),
                                name="reports_daily_unique_unversioned_bucket",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("successes__lte", models.F("runs"))),
                                name="reports_daily_successes_le_runs",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
