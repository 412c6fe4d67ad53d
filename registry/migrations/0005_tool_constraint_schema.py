"""Tools declare which typed constraints a grant may set (see registry.grant_constraints)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_review_schedule_task_name")]

    operations = [
        migrations.AddField(
            model_name="tool",
            name="constraint_schema",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='The constraints a grant of this tool may set, e.g. {"max_amount_usd": {"parameter": '
                '"amount_usd"}, "max_per_hour": {}, "max_per_day": {}, "allowed_values": {"fields": ["currency"]}}.',
            ),
        ),
    ]
