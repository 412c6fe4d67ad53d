"""An applied request keeps the comparison it was decided on (its page no longer compares the
payload with today's state). Requests applied before this migration have none and say so."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("approvals", "0004_decision_append_only_trigger")]

    operations = [
        migrations.AddField(
            model_name="approvalrequest",
            name="diff_at_apply",
            field=models.JSONField(
                blank=True,
                help_text="What would change, as it stood when the request was applied: [{label, current, proposed}].",
                null=True,
            ),
        ),
    ]
