from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    """Service-level objectives with error-budget burn-rate alerts, and user-defined monitors on rollup
    metrics. Alerts are delivered through registry.channels."""

    name = "monitors"
    verbose_name = "Monitors"
    default_auto_field = "django.db.models.BigAutoField"
