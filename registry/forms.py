from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from .choices import Channel
from .models import Agent, AgentVersion, Tool


class AgentForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(choices=Channel.choices, required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Agent
        fields = [
            "slug",
            "name",
            "purpose",
            "unit_of_work",
            "kpi_name",
            "kpi_baseline",
            "owner_team",
            "owner",
            "sponsor",
            "risk_tier",
            "status",
            "channels",
            "data_classification",
            "data_sources",
            "systems",
            "success_threshold_pct",
            "escalation_threshold_pct",
            "monthly_budget_usd",
            "human_cost_per_minute_usd",
            "human_minutes_per_unit",
            "monthly_infra_cost_usd",
            "monthly_ops_cost_usd",
            "last_reviewed_on",
        ]
        widgets = {
            "purpose": forms.Textarea(attrs={"rows": 3}),
            "last_reviewed_on": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["owner"].queryset = users
        self.fields["sponsor"].queryset = users
        if self.instance.pk:
            # The slug is the agent's API identity; renaming it would orphan its telemetry.
            self.fields["slug"].disabled = True
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple):
                continue
            css = "form-select" if isinstance(widget, forms.Select | forms.SelectMultiple) else "form-control"
            widget.attrs.setdefault("class", css)


class AgentVersionForm(forms.ModelForm):
    tools = forms.ModelMultipleChoiceField(
        queryset=Tool.objects.all(), required=False, help_text="Tools this version may call."
    )

    class Meta:
        model = AgentVersion
        fields = ["label", "model_provider", "model_name", "prompt_ref", "policy_version", "changelog"]
        widgets = {"changelog": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, agent: Agent, **kwargs):
        self.agent = agent
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select | forms.SelectMultiple) else "form-control"
            field.widget.attrs.setdefault("class", css)

    def clean_label(self) -> str:
        label = self.cleaned_data["label"]
        if AgentVersion.objects.filter(agent=self.agent, label=label).exists():
            raise forms.ValidationError(f"{self.agent.slug} already has a version labelled {label}.")
        return label

    def _post_clean(self):
        self.instance.agent = self.agent
        super()._post_clean()
