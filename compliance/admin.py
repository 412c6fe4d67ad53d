"""Compliance records in the admin: read-only, superusers included. Each changes only through its
service and its rule: an intake is scored by the board (``intake_score``), a document version is
added with its checks (``document_add``), an assessment is approved only by its two-person
``impact_assessment`` request, serious incidents, reports, freezes and drills are the evidence."""

from django.contrib import admin

from registry.admin import ReadOnlyAdminMixin

from .models import (
    AgentDocument,
    EvidenceFreeze,
    ImpactAssessment,
    Intake,
    KillSwitchDrill,
    SeriousIncident,
    SeriousReport,
)


class _ReadOnly(ReadOnlyAdminMixin, admin.ModelAdmin):
    def get_actions(self, request):
        return {}  # no "delete selected"


@admin.register(Intake)
class IntakeAdmin(_ReadOnly):
    list_display = ["title", "proposer", "team", "status", "core_total", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "proposer__username"]


@admin.register(AgentDocument)
class AgentDocumentAdmin(_ReadOnly):
    list_display = ["agent", "kind", "version", "title", "review_due", "uploaded_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["agent__slug", "title"]


@admin.register(ImpactAssessment)
class ImpactAssessmentAdmin(_ReadOnly):
    list_display = ["agent", "kind", "version", "status", "valid_until", "approved_at"]
    list_filter = ["kind", "status"]
    search_fields = ["agent__slug"]


@admin.register(SeriousIncident)
class SeriousIncidentAdmin(_ReadOnly):
    list_display = ["incident", "kind", "aware_at", "due_at", "classified_by"]
    list_filter = ["kind"]


@admin.register(SeriousReport)
class SeriousReportAdmin(_ReadOnly):
    list_display = ["serious", "stage", "submitted_by", "submitted_at"]


@admin.register(EvidenceFreeze)
class EvidenceFreezeAdmin(_ReadOnly):
    list_display = ["agent", "serious", "change_kind", "audit_seq", "created_at"]


@admin.register(KillSwitchDrill)
class KillSwitchDrillAdmin(_ReadOnly):
    list_display = ["agent", "mode", "status", "pulled_at", "ms_to_controls_off", "finished_at"]
    list_filter = ["mode", "status"]
