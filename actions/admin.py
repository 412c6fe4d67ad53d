"""Admin: policy versions and action requests are read-only records; a new policy version is
proposed on the policy page and takes effect through a two-person request."""

from __future__ import annotations

from django.contrib import admin

from registry.admin import ReadOnlyAdminMixin

from .models import ActionPolicyVersion, ActionRequest, AgentGateSettings


@admin.register(ActionPolicyVersion)
class ActionPolicyVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only, superusers included: a new version is proposed on the policy page and takes
    effect only through a two-person action-policy change request (issue 13)."""

    list_display = ["tool", "number", "retention_days", "note", "created_by", "created_at"]
    list_filter = ["tool"]
    search_fields = ["tool__name", "note", "rules_source"]


@admin.register(ActionRequest)
class ActionRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "agent", "tool", "status", "source", "rule_number", "policy_version"]
    list_filter = ["status", "source", "tool"]
    search_fields = ["agent__slug", "idempotency_key", "rule_text"]


@admin.register(AgentGateSettings)
class AgentGateSettingsAdmin(admin.ModelAdmin):
    list_display = ["agent", "webhook_url", "updated_at"]
    exclude = ["webhook_secret"]
