"""The discovery queue (agents, tools and models seen in spans that the registry does not know)
and the organisation-level discovery keys a collector sends spans with."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0006_agentapikey_from_telemetry"),
        ("telemetry", "0008_span_partitioned"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Discovery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(choices=[("agent", "Agent"), ("tool", "Tool"), ("model", "Model")], max_length=10),
                ),
                ("name", models.CharField(max_length=200)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("unreviewed", "Unreviewed"),
                            ("promoted", "Promoted into the registry"),
                            ("blocked", "Blocked"),
                        ],
                        default="unreviewed",
                        max_length=12,
                    ),
                ),
                ("first_seen_at", models.DateTimeField()),
                ("last_seen_at", models.DateTimeField()),
                (
                    "span_count",
                    models.PositiveBigIntegerField(default=0, help_text="Spans that named it before it was blocked."),
                ),
                (
                    "rejected_spans",
                    models.PositiveBigIntegerField(default=0, help_text="Spans refused since it was blocked."),
                ),
                (
                    "sample",
                    models.JSONField(
                        blank=True, default=dict, help_text="What was seen (redacted), to pre-fill a promotion."
                    ),
                ),
                ("reviewed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "promoted_agent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="registry.agent",
                    ),
                ),
                (
                    "promoted_tool",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="registry.tool",
                    ),
                ),
                (
                    "reviewed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "seen_by_agent",
                    models.ForeignKey(
                        blank=True,
                        help_text="The agent whose key reported it (tools and models).",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="registry.agent",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "discoveries",
                "ordering": ["-last_seen_at"],
                "permissions": [("review_discovery", "Can promote or block discovered agents, tools and models")],
                "indexes": [models.Index(fields=["state", "-last_seen_at"], name="telemetry_d_state_d84fed_idx")],
                "constraints": [
                    models.UniqueConstraint(fields=("kind", "name"), name="telemetry_discovery_one_per_kind_name"),
                    models.CheckConstraint(
                        condition=models.Q(("kind__in", ["agent", "tool", "model"])),
                        name="telemetry_discovery_kind_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("state__in", ["unreviewed", "promoted", "blocked"])),
                        name="telemetry_discovery_state_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("state", "unreviewed"), ("reviewed_at__isnull", False), _connector="OR"),
                        name="telemetry_discovery_reviewed_has_time",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="DiscoveryKey",
            fields=[
                (
                    "id",
                    models.CharField(editable=False, max_length=150, primary_key=True, serialize=False, unique=True),
                ),
                ("prefix", models.CharField(editable=False, max_length=8, unique=True)),
                ("hashed_key", models.CharField(editable=False, max_length=150)),
                ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "name",
                    models.CharField(
                        default=None,
                        help_text="A free-form name for the API key. Need not be unique. 50 characters max.",
                        max_length=50,
                    ),
                ),
                (
                    "revoked",
                    models.BooleanField(
                        blank=True,
                        default=False,
                        help_text="If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)",
                    ),
                ),
                (
                    "expiry_date",
                    models.DateTimeField(
                        blank=True,
                        help_text="Once API key expires, clients cannot use it anymore.",
                        null=True,
                        verbose_name="Expires",
                    ),
                ),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "discovery key",
                "verbose_name_plural": "discovery keys",
                "ordering": ("-created",),
                "abstract": False,
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("revoked", False), ("revoked_at__isnull", False), _connector="OR"),
                        name="telemetry_discoverykey_revoked_has_time",
                    )
                ],
            },
        ),
    ]
