from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The built-in request kinds register themselves on import.
        from registry.extensions import NavItem, agent_card_sections, demo_seeders, home_panels, nav_items
        from registry.governance import APPROVAL_POLICY_CHANGE, GovernedField, governed_fields_register

        from . import fleet, kinds  # noqa: F401 - the built-in kinds and the fleet re-enable kind
        from .models import ApprovalPolicy

        # Approval policies are governed like the registry's fields: a two-person request changes them.
        governed_fields_register(
            *(
                GovernedField(ApprovalPolicy, name, APPROVAL_POLICY_CHANGE, on_create=False)
                for name in ("required_approvals", "eligible_roles", "require_board_outside_team")
            )
        )
        # Decisions go on the audit chain with every field of the row (issue 15), not as auditlog's diff.
        from django.db.models.signals import post_save

        from registry.audit_sources import chained_elsewhere

        from .audit import chain_decision
        from .break_glass import break_glass_home_panel  # registers the break_glass_review kind
        from .demo import seed_approvals
        from .models import Decision
        from .panels import agent_card_section, awaiting_home_panel
        from .selectors import awaiting_count

        chained_elsewhere("approvals.decision")
        post_save.connect(chain_decision, sender=Decision, dispatch_uid="approvals.audit_chain_decision")

        home_panels.register(awaiting_home_panel, order=30)
        home_panels.register(break_glass_home_panel, order=5)
        agent_card_sections.register(agent_card_section, order=20)
        nav_items.register(NavItem("Approvals", "approvals:queue", badge=awaiting_count), order=30)
        demo_seeders.register(seed_approvals, order=20)
