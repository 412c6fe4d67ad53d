"""People's accounts at an identity provider (OIDC or SAML), one IdP account to one local user (issue 20)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0006_agentapikey_from_telemetry"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ExternalIdentity",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "provider",
                    models.CharField(choices=[("oidc", "OpenID Connect"), ("saml", "SAML 2.0")], max_length=8),
                ),
                ("issuer", models.CharField(help_text="OIDC issuer URL or SAML IdP entity id.", max_length=500)),
                ("subject", models.CharField(help_text="OIDC 'sub' claim or SAML NameID.", max_length=500)),
                ("email", models.EmailField(blank=True, max_length=254)),
                ("email_verified", models.BooleanField(default=False)),
                ("first_seen", models.DateTimeField(default=django.utils.timezone.now)),
                ("last_seen", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="external_identities",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "external identities",
                "ordering": ["issuer", "subject"],
                "indexes": [models.Index(fields=["email"], name="registry_extid_email_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("issuer", "subject"), name="registry_externalidentity_issuer_subject"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("provider__in", ["oidc", "saml"])),
                        name="registry_externalidentity_provider_known",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("subject", ""), _negated=True),
                        name="registry_externalidentity_subject_nonempty",
                    ),
                ],
            },
        ),
    ]
