from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "actions"
    label = "actions"
    verbose_name = "Runtime action gate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Pending actions are decided in the approvals queue: register the request kind.
        from approvals.kinds import register_kind

        from .kind import RUNTIME_ACTION_KIND

        register_kind(RUNTIME_ACTION_KIND)
