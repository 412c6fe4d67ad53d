from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from approvals.extensions import apply_gates
        from registry.extensions import NavItem, agent_card_sections, demo_seeders, home_panels, nav_items

        from .demo import seed_incidents
        from .gates import learning_gate
        from .panels import active_incident_count, agent_card_section, home_panel

        home_panels.register(home_panel, order=50)
        agent_card_sections.register(agent_card_section, order=50)
        nav_items.register(
            NavItem(
                "Incidents", "incidents:incident_list", perm="incidents.view_incident", badge=active_incident_count
            ),
            order=50,
        )
        demo_seeders.register(seed_incidents, order=50)
        # No go-live while a postmortem action item is overdue (the learning gate).
        apply_gates.register(learning_gate, order=20)
        # The action gate's context.active_incident, and the incident a hard budget cap's kill switch opens.
        from actions.context import ContextExpression, context_expressions
        from registry.budgets import hard_cap_kill_switch_hooks

        from .services import active_incident_expression, hard_cap_incident_open

        context_expressions.register(ContextExpression("active_incident", active_incident_expression), order=50)
        hard_cap_kill_switch_hooks.register(hard_cap_incident_open, order=50)
