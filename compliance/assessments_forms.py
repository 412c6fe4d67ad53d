"""The FRIA and DPIA forms: one text answer per question of the law, a reassessment date."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from .assessments import MAX_ANSWER_CHARS, QUESTIONS


class AssessmentForm(forms.Form):
    valid_until = forms.DateField(
        label="reassess by", widget=forms.DateInput(attrs={"type": "date"}), help_text="At most a year is usual."
    )
    justification = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, kind: str, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("valid_until", timezone.localdate() + timedelta(days=365))
        super().__init__(*args, **kwargs)
        self.kind = kind
        for key, label in QUESTIONS[kind]:
            self.fields[key] = forms.CharField(
                label=label, max_length=MAX_ANSWER_CHARS, widget=forms.Textarea(attrs={"rows": 3})
            )
        for name in ("valid_until", "justification"):
            self.fields[name] = self.fields.pop(name)
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-control")

    def answers(self) -> dict:
        return {key: self.cleaned_data[key] for key, _ in QUESTIONS[self.kind]}
