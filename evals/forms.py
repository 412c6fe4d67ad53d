from __future__ import annotations

import json
from decimal import Decimal

from django import forms

from .choices import Scorer
from .models import DriftPolicy, EvalTarget, GoldenSetVersion


class JSONTextField(forms.CharField):
    """A textarea holding JSON; the cleaned value is the parsed document."""

    widget = forms.Textarea(attrs={"rows": 4, "class": "form-control font-monospace"})

    def to_python(self, value):
        value = super().to_python(value)
        if value in ("", None):
            return value
        try:
            return json.loads(value)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None

    def prepare_value(self, value):
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class GoldenSetForm(forms.Form):
    name = forms.CharField(max_length=120, widget=forms.TextInput(attrs={"class": "form-control"}))
    description = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"})
    )


class CaseForm(forms.Form):
    key = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"class": "form-control"}))
    input = JSONTextField(help_text="JSON sent to the agent.")
    scorer = forms.ChoiceField(choices=Scorer.choices, widget=forms.Select(attrs={"class": "form-select"}))
    expected = JSONTextField(
        help_text="JSON: a value (exact), a string or list (contains), a pattern string (regex), a schema "
        '(json_schema), a number (numeric) or the rubric as a string (llm_judge), e.g. "Polite and correct".'
    )
    options = JSONTextField(required=False, help_text='JSON object, e.g. {"tolerance": 0.5, "case_sensitive": false}.')

    def clean_options(self):
        return self.cleaned_data.get("options") or {}


class ImportForm(forms.Form):
    file = forms.FileField(
        required=False, widget=forms.ClearableFileInput(attrs={"class": "form-control", "accept": ".jsonl,.json,.txt"})
    )
    text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6, "class": "form-control font-monospace"})
    )
    replace = forms.BooleanField(required=False, label="Replace the cases of this version")

    def clean(self):
        data = super().clean()
        if not data.get("file") and not (data.get("text") or "").strip():
            raise forms.ValidationError("Choose a JSONL file or paste its lines.")
        return data

    def content(self) -> bytes | str:
        upload = self.cleaned_data.get("file")
        if upload:
            return upload.read()
        return self.cleaned_data["text"]


class RunStartForm(forms.Form):
    version = forms.ModelChoiceField(queryset=None, widget=forms.Select(attrs={"class": "form-select"}))
    set_version = forms.ModelChoiceField(
        queryset=None, label="Golden-set version", widget=forms.Select(attrs={"class": "form-select"})
    )

    def __init__(self, *args, agent, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = agent.versions.order_by("-created_at")
        # Each choice's label names the agent: fetched with the version, not once per option.
        self.fields["set_version"].queryset = GoldenSetVersion.objects.filter(golden_set__agent=agent).select_related(
            "golden_set__agent"
        )


class EvalTargetForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(attrs={"class": "form-control", "autocomplete": "off"}),
        help_text="Leave blank to keep the stored secret.",
    )

    class Meta:
        model = EvalTarget
        fields = ["endpoint_url", "secret", "timeout_seconds", "max_concurrency", "max_retries", "backoff_seconds"]
        widgets = {
            "endpoint_url": forms.URLInput(attrs={"class": "form-control"}),
            "timeout_seconds": forms.NumberInput(attrs={"class": "form-control"}),
            "max_concurrency": forms.NumberInput(attrs={"class": "form-control"}),
            "max_retries": forms.NumberInput(attrs={"class": "form-control"}),
            "backoff_seconds": forms.NumberInput(attrs={"class": "form-control"}),
        }


class RatingForm(forms.Form):
    human_passed = forms.TypedChoiceField(
        choices=[("1", "Pass"), ("0", "Fail")], coerce=lambda v: v == "1", label="Your verdict"
    )
    note = forms.CharField(required=False, max_length=500)


def _number(**attrs):
    return forms.NumberInput(attrs={"class": "form-control", **attrs})


class DriftPolicyForm(forms.ModelForm):
    """The per-agent drift thresholds. Bounds keep a policy meaningful: a threshold of 0 points
    would page on noise, one past 100 points could never fire."""

    containment_drop_points = forms.DecimalField(
        min_value=Decimal("0.5"),
        max_value=Decimal("100"),
        decimal_places=2,
        widget=_number(step="0.5"),
        help_text="Page when containment drops by more than this many points (playbook: 10).",
    )
    error_rise_points = forms.DecimalField(
        min_value=Decimal("0.5"),
        max_value=Decimal("100"),
        decimal_places=2,
        widget=_number(step="0.5"),
        help_text="Page when the error rate rises by more than this many points (playbook: 5).",
    )
    escalation_rise_points = forms.DecimalField(
        min_value=Decimal("0.5"), max_value=Decimal("100"), decimal_places=2, widget=_number(step="0.5")
    )
    cost_rise_pct = forms.DecimalField(
        label="Cost per run rise (%)",
        min_value=Decimal("1"),
        max_value=Decimal("10000"),
        decimal_places=2,
        widget=_number(),
    )
    latency_rise_pct = forms.DecimalField(
        label="Latency p95 rise (%)",
        min_value=Decimal("1"),
        max_value=Decimal("10000"),
        decimal_places=2,
        widget=_number(),
    )
    outcome_mix_psi = forms.DecimalField(
        label="Outcome mix PSI threshold",
        min_value=Decimal("0.01"),
        max_value=Decimal("10"),
        decimal_places=3,
        widget=_number(step="0.01"),
        help_text="0.1 is a small shift, 0.25 a large one.",
    )
    min_samples = forms.IntegerField(
        label="Minimum runs per window",
        min_value=10,
        max_value=100_000,
        widget=_number(),
        help_text="Fewer runs than this in either window: the rate is not tested (noise would page people).",
    )

    class Meta:
        model = DriftPolicy
        fields = [
            "enabled",
            "action",
            "containment_window_minutes",
            "containment_drop_points",
            "error_window_minutes",
            "error_rise_points",
            "escalation_rise_points",
            "cost_rise_pct",
            "latency_rise_pct",
            "outcome_mix_psi",
            "baseline_hours",
            "min_samples",
            "significance",
        ]
        labels = {
            "containment_window_minutes": "Containment window (minutes)",
            "error_window_minutes": "Error-rate window (minutes)",
            "baseline_hours": "Baseline (hours before the window)",
        }
        help_texts = {
            "action": "What happens automatically on a breach, besides the alert and the SEV2 incident.",
            "significance": "One-sided; 0.001 means one false alarm in a thousand stable checks per metric.",
        }
        widgets = {
            "enabled": forms.CheckboxInput(attrs={"class": "form-check-input"}),
            "action": forms.Select(attrs={"class": "form-select"}),
            "containment_window_minutes": _number(),
            "error_window_minutes": _number(),
            "baseline_hours": _number(),
            "significance": _number(step="0.0001"),
        }

    def clean(self):
        data = super().clean()
        baseline_hours = data.get("baseline_hours")
        for window in ("containment_window_minutes", "error_window_minutes"):
            minutes = data.get(window)
            if baseline_hours and minutes and minutes > baseline_hours * 60:
                self.add_error(window, "The window cannot be longer than the baseline it is compared with.")
        return data
