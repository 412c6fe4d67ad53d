from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """The compliance workbench: intake scorecard, documentation gate, impact assessments, framework
    mapping with live evidence, the serious-incident clock and kill-switch drills. The top
    layer: its evidence queries read every app below it."""

    name = "compliance"
    verbose_name = "Compliance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        self._ready_intake_documents_assessments()

    def _ready_intake_documents_assessments(self) -> None:
        """Intake funnel, the documentation and FRIA gates, the impact-assessment kind, the card section."""
        from approvals.extensions import apply_gates
        from approvals.kinds import register_kind
        from registry.extensions import NavItem, agent_card_sections, demo_seeders, home_panels, nav_items
        from registry.governance import GovernedField, governed_fields_register

        from .assessments import IMPACT_ASSESSMENT, IMPACT_ASSESSMENT_KIND, fria_gate
        from .documents import documentation_gate
        from .documents_panels import documents_agent_section
        from .intake_demo import seed_intake_documents
        from .intake_panels import intake_home_panel
        from .models import ImpactAssessment

        home_panels.register(intake_home_panel, order=90)
        nav_items.register(NavItem("Intake", "compliance:intake_list"), order=90)
        agent_card_sections.register(documents_agent_section, order=90)
        # No go-live or new version without the tier's documents, nor (tier 1) without a current FRIA.
        apply_gates.register(documentation_gate, order=30)
        apply_gates.register(fria_gate, order=31)
        register_kind(IMPACT_ASSESSMENT_KIND)
        # An assessment's approval moves only through its request (no form, API or admin writes it).
        governed_fields_register(GovernedField(ImpactAssessment, "status", IMPACT_ASSESSMENT, on_create=False))
        demo_seeders.register(seed_intake_documents, order=90)
