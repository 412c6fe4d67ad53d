from django.apps import AppConfig


class TrailConfig(AppConfig):
    """The audit trail for auditors: the audit explorer, "why was this allowed?", retention and
    legal hold. The top layer: it reads every app below it."""

    name = "trail"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry.extensions import NavItem, agent_card_sections, nav_items
        from telemetry.extensions import retention_holds

        from .panels import agent_card_section
        from .services import held_agent_ids

        agent_card_sections.register(agent_card_section, order=90)
        nav_items.register(NavItem("Audit", "trail:explorer", perm="registry.view_auditentry"), order=80)
        # A legal hold suspends telemetry's own span retention too (it drops whole day partitions).
        retention_holds.register(held_agent_ids, order=10)
