"""Agents' API keys move to the registry, next to people's tokens: credentials of principals
belong to the bottom layer, which every app that authenticates an agent can import. The table
(``telemetry_agentapikey``) and every key in it stay as they are: state only here;
``telemetry.0007`` forgets the model on its side and moves its content type (so its permissions
and audit-log entries follow)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_tool_constraint_schema"),
        # The table was created by telemetry; the registry takes it over from there.
        ("telemetry", "0006_run_agent_received_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AgentAPIKey",
                    fields=[
                        (
                            "id",
                            models.CharField(
                                editable=False, max_length=150, primary_key=True, serialize=False, unique=True
                            ),
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
                            "agent",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="api_keys",
                                to="registry.agent",
                            ),
                        ),
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
                        (
                            "revoked_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "rotated_from",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="registry.agentapikey",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "agent API key",
                        "verbose_name_plural": "agent API keys",
                        "ordering": ("-created",),
                        "abstract": False,
                        "db_table": "telemetry_agentapikey",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("revoked", False), ("revoked_at__isnull", False), _connector="OR"),
                                name="telemetry_agentapikey_revoked_has_time",
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
