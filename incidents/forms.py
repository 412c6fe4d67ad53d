from __future__ import annotations

import re
from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from registry.choices import AgentStatus
from registry.models import AgentVersion

from .choices import ALLOWED_TRANSITIONS, FailureMode, IncidentStatus, Severity
from .models import Incident, Postmortem
from .services import MAX_RUN_ID_LENGTH, MAX_RUN_IDS


class BootstrapMixin:
    def _style(self):
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.RadioSelect):
                continue
            css = "form-select" if isinstance(widget, forms.Select | forms.SelectMultiple) else "form-control"
            widget.attrs.setdefault("class", css)


def _active_users():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class RunIdsField(forms.CharField):
    """Run ids separated by commas, spaces or new lines."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2}))
        kwargs.setdefault(
            "help_text", f"The agent's run ids, separated by commas or new lines (at most {MAX_RUN_IDS})."
        )
        super().__init__(**kwargs)

    def clean(self, value):
        text = super().clean(value) or ""
        ids = list(dict.fromkeys(part for part in re.split(r"[\s,]+", text) if part))
        if len(ids) > MAX_RUN_IDS:
            raise forms.ValidationError(f"Link at most {MAX_RUN_IDS} runs at once (got {len(ids)}).")
        too_long = [i for i in ids if len(i) > MAX_RUN_ID_LENGTH]
        if too_long:
            raise forms.ValidationError(f"A run id is at most {MAX_RUN_ID_LENGTH} characters.")
        return ids


class IncidentForm(BootstrapMixin, forms.Form):
    """A person reports an incident (detection source: person)."""

    agent = forms.ModelChoiceField(queryset=None, to_field_name="slug")
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.SEV2)
    title = forms.CharField(max_length=200)
    failure_mode = forms.ChoiceField(choices=FailureMode.choices, initial=FailureMode.UNCLASSIFIED)
    summary = forms.CharField(required=False, max_length=8000, widget=forms.Textarea(attrs={"rows": 3}))
    customer_impact = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required for SEV1: who or what was hit.",
    )
    financial_impact_usd = forms.DecimalField(
        label="Financial impact (USD)", required=False, min_value=0, max_digits=14, decimal_places=2
    )
    run_ids = RunIdsField(label="Linked run ids")

    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents.exclude(status=AgentStatus.RETIRED)
        self._style()

    def clean(self):
        data = super().clean()
        if data.get("severity") == Severity.SEV1 and not (data.get("customer_impact") or "").strip():
            self.add_error("customer_impact", "A SEV1 needs the customer impact: who or what was hit.")
        return data


class IncidentEditForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Incident
        fields = [
            "severity",
            "title",
            "failure_mode",
            "summary",
            "customer_impact",
            "financial_impact_usd",
            "commander",
            "version",
        ]
        widgets = {"summary": forms.Textarea(attrs={"rows": 3}), "customer_impact": forms.Textarea(attrs={"rows": 2})}

    note = forms.CharField(required=False, max_length=2000, help_text="Why (goes on the timeline).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commander"].queryset = _active_users()
        self.fields["version"].queryset = (
            AgentVersion.objects.filter(agent=self.instance.agent)
            if self.instance.agent_id
            else AgentVersion.objects.none()
        )
        self._style()


class TransitionForm(BootstrapMixin, forms.Form):
    to_status = forms.ChoiceField(choices=IncidentStatus.choices, widget=forms.HiddenInput)
    note = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, incident: Incident, **kwargs):
        super().__init__(*args, **kwargs)
        self.incident = incident
        self._style()

    def clean_to_status(self):
        to_status = self.cleaned_data["to_status"]
        if to_status not in ALLOWED_TRANSITIONS[self.incident.status]:
            raise forms.ValidationError(
                f"An incident that is {self.incident.get_status_display().lower()} cannot become "
                f"{IncidentStatus(to_status).label.lower()}."
            )
        return to_status


class NoteForm(BootstrapMixin, forms.Form):
    note = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._style()


class LinkRunsForm(BootstrapMixin, forms.Form):
    run_ids = RunIdsField(label="Run ids", required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._style()


class PostmortemForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Postmortem
        fields = list(Postmortem.SECTIONS)
        widgets = {name: forms.Textarea(attrs={"rows": 4}) for name in Postmortem.SECTIONS}
        help_texts = {
            "summary": "Required to publish.",
            "impact": "Required to publish: customers, money, regulators, internal teams.",
            "root_cause": "Required to publish.",
            "timeline": "Key moments, one per line (the incident's own timeline is below for reference).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._style()


class ActionItemForm(BootstrapMixin, forms.Form):
    title = forms.CharField(max_length=300, label="Action item")
    owner = forms.ModelChoiceField(queryset=None, required=False, help_text="Needed before the incident can close.")
    due_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Due")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _active_users()
        self.fields["due_on"].initial = timezone.localdate() + timedelta(days=14)
        self._style()


class ActionItemUpdateForm(BootstrapMixin, forms.Form):
    from .choices import ActionItemState as _State

    state = forms.ChoiceField(choices=_State.choices, required=False)
    owner = forms.ModelChoiceField(queryset=None, required=False)
    due_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _active_users()
        self._style()


class KillSwitchForm(BootstrapMixin, forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required. It goes on the incident and in the audit trail.",
    )
    failure_mode = forms.ChoiceField(
        choices=FailureMode.choices, initial=FailureMode.UNCLASSIFIED, required=False, label="Failure mode (if known)"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._style()

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why you are pulling the kill switch.")
        return reason


class FleetKillSwitchForm(KillSwitchForm):
    failure_mode = None


class ReenableForm(BootstrapMixin, forms.Form):
    justification = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why it is safe now. Two approvers other than you must agree.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._style()
