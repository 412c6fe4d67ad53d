from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    """Rollout plans with gated stages, one-click rollback to the previous version, shadow runs and A/B
    lift between versions. Above evals (it reuses the drift statistics) and incidents (a failed
    gate or a rollback opens one)."""

    name = "rollouts"
    verbose_name = "Rollouts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A plan is a governed, two-person change; the steps within it are automatic.
        from approvals.kinds import register_kind
        from registry.extensions import NavItem, agent_card_sections, demo_seeders, home_panels, nav_items

        from .demo import seed_rollouts
        from .kind import ROLLOUT_PLAN_KIND
        from .panels import agent_card_section, home_panel

        register_kind(ROLLOUT_PLAN_KIND)
        agent_card_sections.register(agent_card_section, order=44)
        home_panels.register(home_panel, order=44)
        nav_items.register(NavItem("Rollouts", "rollouts:index", perm="registry.view_agent"), order=55)
        demo_seeders.register(seed_rollouts, order=45)
