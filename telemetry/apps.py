from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI extensions (agent auth scheme, pydantic → OpenAPI 3.0).
        from .api import authentication, schema  # noqa: F401
