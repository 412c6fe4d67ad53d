from __future__ import annotations

import json

from django import forms

from .choices import Scorer
from .models import EvalTarget, GoldenSetVersion


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
        self.fields["set_version"].queryset = GoldenSetVersion.objects.filter(golden_set__agent=agent).select_related(
            "golden_set"
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
