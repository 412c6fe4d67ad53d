from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "actions"
    label = "actions"
    verbose_name = "Runtime action gate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Pending actions are decided in the approvals queue: register the request kind.
        from approvals.kinds import register_kind
        from registry.extensions import NavItem, agent_card_sections, demo_seeders, nav_items
        from telemetry.extensions import controls_extras

        from .demo import seed_actions
        from .kind import RUNTIME_ACTION_KIND
        from .panels import agent_card_section
        from .selectors import controls_extra

        register_kind(RUNTIME_ACTION_KIND)
        # A new policy version is itself a governed, two-person change (issue 13).
        from registry.governance import governed_fields_register

        from .policy_change import ACTION_POLICY_CHANGE_KIND, GOVERNED

        register_kind(ACTION_POLICY_CHANGE_KIND)
        governed_fields_register(*GOVERNED)
        # Setting, replacing or stopping a shadow policy is a two-person request too (issue 18).
        from .shadow import ACTION_POLICY_SHADOW_KIND
        from .shadow import GOVERNED as SHADOW_GOVERNED

        register_kind(ACTION_POLICY_SHADOW_KIND)
        governed_fields_register(*SHADOW_GOVERNED)
        # MCP tool definitions pinned in a version change only through a two-person request (issue 17).
        from .tool_pins import GOVERNED as PIN_GOVERNED
        from .tool_pins import TOOL_PIN_KIND

        register_kind(TOOL_PIN_KIND)
        governed_fields_register(*PIN_GOVERNED)
        agent_card_sections.register(agent_card_section, order=30)
        nav_items.register(NavItem("Actions", "actions:index", perm="actions.view_actionpolicyversion"), order=40)
        demo_seeders.register(seed_actions, order=30)
        # Agents learn the action-policy version in force with their runtime controls.
        controls_extras.register(controls_extra, order=10)
        # ... and their budget: caps, whether the hard cap is reached and what the gate then does.
        from .selectors import budget_controls_extra

        controls_extras.register(budget_controls_extra, order=11)
