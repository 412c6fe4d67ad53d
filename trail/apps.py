from django.apps import AppConfig


class TrailConfig(AppConfig):
    """The audit trail for auditors: the audit explorer, "why was this allowed?", retention and
    legal hold. The top layer: it reads every app below it."""

    name = "trail"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry.extensions import NavItem, agent_card_sections, nav_items

        from .panels import agent_card_section

        agent_card_sections.register(agent_card_section, order=90)
        nav_items.register(NavItem("Audit", "trail:explorer", perm="registry.view_auditentry"), order=80)
