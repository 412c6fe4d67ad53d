"""Forms of the rollouts pages: parse only; the rules are in services and selectors."""

from __future__ import annotations

from django import forms

from registry.models import Agent

MAX_DAYS = 400


class RollbackForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        help_text="Required. It goes on the incident and in the audit trail.",
    )


class PlanCancelForm(forms.Form):
    reason = forms.CharField(
        max_length=450,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        help_text="Required. It goes on the plan and in the audit trail.",
    )


class LiftForm(forms.Form):
    """Two versions of one agent and a window in days (ending now)."""

    a = forms.ChoiceField(label="Version A (baseline)")
    b = forms.ChoiceField(label="Version B (compared)")
    days = forms.IntegerField(min_value=1, max_value=MAX_DAYS, initial=30, label="Days")

    def __init__(self, *args, agent: Agent, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(v.label, v.label) for v in agent.versions.order_by("-pk")]
        self.fields["a"].choices = self.fields["b"].choices = choices
        for field in self.fields.values():
            field.widget.attrs.setdefault(
                "class", "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            )

    def clean(self):
        data = super().clean()
        if data.get("a") and data.get("a") == data.get("b"):
            raise forms.ValidationError("Choose two different versions.")
        return data


class ShadowForm(forms.Form):
    days = forms.IntegerField(
        min_value=1, max_value=MAX_DAYS, initial=14, widget=forms.NumberInput(attrs={"class": "form-control"})
    )
