"""Reviews and their workflow moved from reports to registry: ``ReviewDossier`` (the pre-filled
figures and the e-mail claim of a review) now belongs to registry.

The rows stay where they are: the table is renamed and the model is created in registry's state
only; ``reports.0005`` removes it from reports' state. The content type is renamed too, so the
audit trail of existing dossiers still points at them."""

import django.db.models.deletion
from django.db import migrations, models


def content_type_to(app_label: str, from_label: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        ContentType.objects.filter(app_label=from_label, model="reviewdossier").update(app_label=app_label)

    return move


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0002_seed_roles"),
        ("reports", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ReviewDossier",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("snapshot", models.JSONField(default=dict)),
                        ("prepared_at", models.DateTimeField()),
                        ("notified_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "review",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="dossier",
                                to="registry.review",
                            ),
                        ),
                    ],
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'ALTER TABLE "reports_reviewdossier" RENAME TO "registry_reviewdossier"',
                    reverse_sql='ALTER TABLE "registry_reviewdossier" RENAME TO "reports_reviewdossier"',
                ),
            ],
        ),
        migrations.RunPython(content_type_to("registry", "reports"), content_type_to("reports", "registry")),
    ]
