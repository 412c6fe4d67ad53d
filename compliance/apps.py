from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """The compliance workbench: intake scorecard, documentation gate, impact assessments, framework
    mapping with live evidence, the serious-incident clock and kill-switch drills. The top
    layer: its evidence queries read every app below it."""

    name = "compliance"
    verbose_name = "Compliance"
    default_auto_field = "django.db.models.BigAutoField"
