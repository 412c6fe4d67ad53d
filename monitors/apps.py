from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    """Service-level objectives with error-budget burn-rate alerts, and user-defined monitors on rollup
    metrics. Alerts are delivered through registry.channels."""

    name = "monitors"
    verbose_name = "Monitors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry.extensions import NavItem, agent_card_sections, demo_seeders, home_panels, nav_items

        from .demo import seed_monitors
        from .panels import agent_card_section, home_panel

        home_panels.register(home_panel, order=45)
        nav_items.register(NavItem("Monitors", "monitors:index", perm="registry.view_agent"), order=62)
        agent_card_sections.register(agent_card_section, order=45)
        # After reports (60), whose seeder brings the rollups up to date.
        demo_seeders.register(seed_monitors, order=65)
