"""Admin: policies are edited as new versions (saving never changes a stored version);
action requests are read-only records."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from .models import ActionPolicyVersion, ActionRequest, AgentGateSettings
from .services import policy_validate


class PolicyVersionAdminForm(forms.ModelForm):
    redact_fields = forms.CharField(required=False, help_text="Declared fields to redact, comma-separated.")

    class Meta:
        model = ActionPolicyVersion
        fields = ["tool", "fields_source", "rules_source", "redact_fields", "retention_days", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["redact_fields"] = ", ".join(self.instance.redact_fields or [])

    def clean_redact_fields(self):
        return self.cleaned_data.get("redact_fields") or ""

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            policy_validate(
                fields_source=data.get("fields_source", ""),
                rules_source=data.get("rules_source", ""),
                redact_fields=data.get("redact_fields", ""),
                retention_days=data.get("retention_days"),
            )
        except ValidationError as exc:
            for name, msgs in exc.message_dict.items():
                for message in msgs:
                    self.add_error(name if name in self.fields else None, message)
        return data

    def _post_clean(self):
        # The model is immutable: validation is the service's, and saving creates a new row.
        pass


@admin.register(ActionPolicyVersion)
class ActionPolicyVersionAdmin(admin.ModelAdmin):
    """Read-only, superusers included: a new version is proposed on the policy page and takes
    effect only through a two-person action-policy change request (issue 13)."""

    list_display = ["tool", "number", "retention_days", "note", "created_by", "created_at"]
    list_filter = ["tool"]
    search_fields = ["tool__name", "note", "rules_source"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ActionRequest)
class ActionRequestAdmin(admin.ModelAdmin):
    list_display = ["created_at", "agent", "tool", "status", "source", "rule_number", "policy_version"]
    list_filter = ["status", "source", "tool"]
    search_fields = ["agent__slug", "idempotency_key", "rule_text"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AgentGateSettings)
class AgentGateSettingsAdmin(admin.ModelAdmin):
    list_display = ["agent", "webhook_url", "updated_at"]
    exclude = ["webhook_secret"]
