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
        self._ready_evidence_serious_drills()

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

    def _ready_evidence_serious_drills(self) -> None:
        """Framework mapping, the serious-incident clock, the evidence freeze and drills."""
        from incidents.extensions import incident_sections
        from registry.extensions import NavItem, before_automatic_change, demo_seeders, home_panels, nav_items
        from reports.extensions import evidence_pack_files
        from telemetry.extensions import controls_extras

        from .demo_evidence import seed_evidence_demo
        from .drills import drill_controls_extra
        from .evidence import evidence_pack_mapping
        from .serious import evidence_freeze_before_change
        from .serious_panels import serious_home_panel, serious_incident_section

        # Art. 73(6): freeze the evidence before Quorum changes an agent in a serious incident.
        before_automatic_change.register(evidence_freeze_before_change, order=10)
        home_panels.register(serious_home_panel, order=45)
        incident_sections.register(serious_incident_section, order=10)
        controls_extras.register(drill_controls_extra, order=60)
        evidence_pack_files.register(evidence_pack_mapping, order=10)
        nav_items.register(NavItem("Drills", "compliance:drill_list", perm="incidents.view_incident"), order=55)
        nav_items.register(NavItem("Frameworks", "compliance:mapping", perm="registry.view_auditentry"), order=85)
        demo_seeders.register(seed_evidence_demo, order=95)
