from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    """Rollout plans with gated stages, one-click rollback to the previous version, shadow runs and A/B
    lift between versions. Above evals (it reuses the drift statistics) and incidents (a failed
    gate or a rollback opens one)."""

    name = "rollouts"
    verbose_name = "Rollouts"
    default_auto_field = "django.db.models.BigAutoField"
