from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry.extensions import NavItem, agent_card_sections, demo_seeders, home_panels, nav_items

        # Registers the OpenAPI extension for pydantic → OpenAPI 3.0 (the agent key scheme is
        # registry.api.authentication's, imported by every agent endpoint).
        from .api import schema  # noqa: F401
        from .demo import seed_telemetry
        from .panels import agent_card_section, discovery_badge, discovery_panel, home_panel

        home_panels.register(home_panel, order=20)
        agent_card_sections.register(agent_card_section, order=10)
        nav_items.register(NavItem("API tokens", "telemetry:user_tokens"), order=20)
        home_panels.register(discovery_panel, order=21)
        nav_items.register(
            NavItem("Discovery", "telemetry:discovery_list", perm="telemetry.view_discovery", badge=discovery_badge),
            order=75,
        )
        demo_seeders.register(seed_telemetry, order=10)
