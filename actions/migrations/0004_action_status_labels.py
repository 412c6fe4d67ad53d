"""Labels only: an approved action reads "Applied" and a waiting one "Pending", the words the
approvals engine uses for the same states. Stored values are unchanged."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("actions", "0003_rename_schedule_task_paths")]

    operations = [
        migrations.AlterField(
            model_name="actionrequest",
            name="status",
            field=models.CharField(
                choices=[
                    ("allowed", "Allowed"),
                    ("denied", "Denied"),
                    ("pending", "Pending"),
                    ("approved", "Applied"),
                    ("expired", "Expired"),
                ],
                max_length=10,
            ),
        ),
    ]
