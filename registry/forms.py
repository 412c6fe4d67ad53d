from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from .choices import Channel
from .governance import governed_field_names, governed_for, governed_value_current, governed_value_parse
from .models import Agent, AgentVersion, Tool

GOVERNED_HELP = "Governed: changed only through an approved request."


class AgentForm(forms.ModelForm):
    """Register or edit an agent. Descriptive fields (purpose, KPI wording, channels, economics)
    save directly and are audited. Governed fields (``registry.governance``) are read-only on
    edit: a value submitted for one is not saved but becomes a proposal
    (:meth:`governed_proposals`) that the view turns into the matching change request. A new
    agent starts as proposed; review dates are derived, never typed."""

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
        ]
        widgets = {"purpose": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["owner"].queryset = users
        self.fields["sponsor"].queryset = users
        creating = self.instance.pk is None
        governed = governed_field_names(Agent, creating=creating) & set(self.fields)
        for name in governed:
            if creating:
                del self.fields[name]  # not settable on create: the model default (proposed)
            else:
                # Disabled: Django keeps the stored value whatever is posted.
                self.fields[name].disabled = True
                self.fields[name].help_text = GOVERNED_HELP
        self.governed_names = set() if creating else governed
        if not creating:
            # The slug is the agent's API identity; renaming it would orphan its telemetry.
            self.fields["slug"].disabled = True
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple):
                continue
            css = "form-select" if isinstance(widget, forms.Select | forms.SelectMultiple) else "form-control"
            widget.attrs.setdefault("class", css)

    def _submitted_governed(self):
        """(governed field, raw value) for each governed field present in the posted data."""
        for governed in governed_for(Agent):
            name = governed.field
            if name in self.governed_names and self.add_prefix(name) in self.data:
                widget = self.fields[name].widget
                yield governed, widget.value_from_datadict(self.data, self.files, self.add_prefix(name))

    def clean(self):
        cleaned = super().clean()
        # A bad value for a governed field is still bad input: it is refused, nothing is saved.
        for governed, raw in self._submitted_governed():
            try:
                governed_value_parse(Agent, governed.field, raw)
            except ValidationError as exc:
                self.add_error(governed.field, exc.messages)
        return cleaned

    def governed_proposals(self) -> dict[str, dict]:
        """Request kind -> {field: proposed value, in payload form} for every governed field
        posted with a value other than today's (call after ``is_valid()``)."""
        proposals: dict[str, dict] = {}
        for governed, raw in self._submitted_governed():
            proposed = governed_value_parse(Agent, governed.field, raw)
            if proposed != governed_value_current(self.instance, governed.field):
                proposals.setdefault(governed.kind, {})[governed.field] = proposed
        return proposals


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
