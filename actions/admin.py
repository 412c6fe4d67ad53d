"""Admin: policies are edited as new versions (saving never changes a stored version);
action requests are read-only records."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from .models import ActionPolicyVersion, ActionRequest, AgentGateSettings
from .services import policy_validate, policy_version_create


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
    form = PolicyVersionAdminForm
    list_display = ["tool", "number", "retention_days", "note", "created_by", "created_at"]
    list_filter = ["tool"]
    search_fields = ["tool__name", "note", "rules_source"]
    readonly_fields = ["number", "created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        version = policy_version_create(
            tool=data["tool"],
            fields_source=data["fields_source"],
            rules_source=data.get("rules_source", ""),
            redact_fields=data.get("redact_fields", ""),
            retention_days=data["retention_days"],
            note=data.get("note", ""),
            actor=request.user,
        )
        if change:
            messages.info(request, f"Saved as a new version, v{version.number}; v{obj.number} is unchanged.")
        # The admin goes on with ``obj`` (log entry, redirect): point it at the new version.
        obj.pk, obj.number, obj.created_at, obj._state.adding = version.pk, version.number, version.created_at, False

    def save_related(self, request, form, formsets, change):
        pass

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
