from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "evals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from approvals.extensions import apply_gates, request_created_hooks
        from registry.extensions import NavItem, agent_card_sections, demo_seeders, home_panels, nav_items

        from .demo import seed_evals
        from .panels import evals_agent_section, evals_home_panel
        from .selectors import open_alert_count
        from .services import apply_gate_eval, request_created_eval_hook

        home_panels.register(evals_home_panel, order=40)
        agent_card_sections.register(evals_agent_section, order=40)
        nav_items.register(
            NavItem("Evals", "evals:index", perm="registry.view_agent", badge=open_alert_count), order=60
        )
        demo_seeders.register(seed_evals, order=40)
        # No version goes live without a passing eval run; a passing run ticks the checklist item.
        apply_gates.register(apply_gate_eval, order=10)
        request_created_hooks.register(request_created_eval_hook, order=10)
        # Weakening a drift policy is a two-person change (issue 13).
        from approvals.kinds import register_kind

        from .drift_change import DRIFT_POLICY_CHANGE_KIND

        register_kind(DRIFT_POLICY_CHANGE_KIND)
