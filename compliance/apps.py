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
        """Intake funnel on the home page and its nav entry (helper 5's part)."""
        from registry.extensions import NavItem, home_panels, nav_items

        from .intake_panels import intake_home_panel

        home_panels.register(intake_home_panel, order=90)
        nav_items.register(NavItem("Intake", "compliance:intake_list"), order=90)
