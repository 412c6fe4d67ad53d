"""Admin: read-only records. Approval policies change through a two-person request; requests,
decisions and checklist items are the audit record."""

from django.contrib import admin

from registry.admin import ReadOnlyAdminMixin

from .models import ApprovalPolicy, ApprovalRequest, ChecklistItem, Decision


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only, superusers included: a policy row changes through a two-person
    ``approval_policy_change`` request (issue 13), never by one person here."""

    list_display = ["risk_tier", "kind", "required_approvals", "eligible_roles", "require_board_outside_team", "note"]
    list_filter = ["risk_tier", "require_board_outside_team"]
    search_fields = ["kind", "note"]


class DecisionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    fields = ["approver", "verdict", "reason", "payload_hash", "board_outside_team", "decided_at"]
    readonly_fields = fields


class ChecklistInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ChecklistItem
    extra = 0
    can_delete = False
    fields = ["key", "done", "ticked_by", "ticked_at", "evidence", "automatic"]
    readonly_fields = fields


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "kind", "agent", "requester", "status", "created_at", "expires_at"]
    list_filter = ["status", "kind", "agent__risk_tier"]
    search_fields = ["agent__slug", "agent__name", "requester__username", "payload_hash", "justification"]
    inlines = [DecisionInline, ChecklistInline]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["request", "approver", "verdict", "decided_at"]
    list_filter = ["verdict"]
    search_fields = ["approver__username", "reason", "request__agent__slug"]

    def get_actions(self, request):
        return {}  # no "delete selected"
