"""Forms of the action gate. They only parse; ``services.policy_validate`` holds the rules."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from registry.outbound import validate_outbound_url

from .services import policy_validate

MONO = {"class": "form-control font-monospace", "spellcheck": "false", "autocapitalize": "off"}


class PolicyForm(forms.Form):
    fields_source = forms.CharField(
        label="Fields",
        max_length=10_000,
        widget=forms.Textarea(attrs={**MONO, "rows": 7}),
        help_text="One per line: <code>name: type</code>, types decimal, integer, string, boolean, "
        "<code>enum(a, b)</code>; add <code>optional</code> for fields an agent may leave out.",
    )
    rules_source = forms.CharField(
        label="Rules",
        required=False,
        max_length=60_000,
        widget=forms.Textarea(attrs={**MONO, "rows": 9}),
        help_text='One per line, first match wins: <code>allow if …</code>, <code>deny "reason" if …</code>, '
        '<code>require 2 approvals from "Role" if …</code>. No match: the action tier\'s default.',
    )
    redact_fields = forms.CharField(
        label="Redact",
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"class": "form-control font-monospace"}),
        help_text="Declared fields replaced before storage, comma-separated.",
    )
    retention_days = forms.IntegerField(
        label="Retention (days)",
        min_value=1,
        max_value=3650,
        initial=365,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )
    note = forms.CharField(
        label="What changed and why",
        max_length=500,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )

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
            for name, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
        return data

    @classmethod
    def initial_from(cls, version) -> dict:
        if version is None:
            return {"retention_days": 365}
        return {
            "fields_source": version.fields_source,
            "rules_source": version.rules_source,
            "redact_fields": ", ".join(version.redact_fields),
            "retention_days": version.retention_days,
        }


class WebhookForm(forms.Form):
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        validators=[validate_outbound_url],
        widget=forms.URLInput(attrs={"class": "form-control", "placeholder": "https://agent.example.com/quorum-hook"}),
        help_text="Called (POST, signed) when a pending action is decided or expires. Empty = no webhook.",
    )
    rotate_secret = forms.BooleanField(label="Make a new signing secret", required=False)

    def clean_webhook_url(self):
        url = self.cleaned_data["webhook_url"]
        if url and not url.startswith(("https://", "http://")):
            raise ValidationError("Use an http(s) URL.")
        return url


BACKTEST_MAX_DAYS = 31


class BacktestForm(forms.Form):
    """What-if: a draft policy and the period of recorded requests to replay it on."""

    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"class": "form-control", "type": "date"}))
    end = forms.DateField(
        label="To (inclusive)", widget=forms.DateInput(attrs={"class": "form-control", "type": "date"})
    )
    fields_source = PolicyForm.base_fields["fields_source"]
    rules_source = PolicyForm.base_fields["rules_source"]

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", "The period ends before it starts.")
        elif start and end and (end - start).days >= BACKTEST_MAX_DAYS:
            self.add_error("end", f"Replay at most {BACKTEST_MAX_DAYS} days at a time.")
        if "fields_source" in data and "rules_source" in data:
            try:
                data["fields"], data["rules"], _r, _d = policy_validate(
                    fields_source=data["fields_source"],
                    rules_source=data["rules_source"],
                    redact_fields="",
                    retention_days=365,
                )
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    for message in messages:
                        self.add_error(name if name in self.fields else None, message)
        return data


class ShadowForm(forms.Form):
    """Rules to run in shadow beside the policy in force (proposed as a two-person request)."""

    rules_source = PolicyForm.base_fields["rules_source"]
    note = PolicyForm.base_fields["note"]
