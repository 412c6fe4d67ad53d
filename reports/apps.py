from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry.extensions import (
            NavItem,
            agent_card_sections,
            demo_seeders,
            home_panels,
            nav_items,
            review_figures,
        )

        from .demo import seed_reports
        from .dossier import REVIEW_FIGURES
        from .panels import evidence_agent_section, reports_agent_section, reports_home_panel

        home_panels.register(reports_home_panel, order=60)
        agent_card_sections.register(reports_agent_section, order=60)
        agent_card_sections.register(evidence_agent_section, order=95)
        nav_items.register(NavItem("Reports", "reports:portfolio", perm="reports.view_reports"), order=70)
        demo_seeders.register(seed_reports, order=60)
        # Every review registry opens (scheduled, ad hoc, after an incident) is pre-filled from here.
        review_figures.register(REVIEW_FIGURES, order=60)
