from __future__ import annotations

from django import forms

from .choices import MAXIMUM_DAYS, RecordFamily


class RetentionRuleForm(forms.Form):
    family = forms.ChoiceField(choices=RecordFamily.choices)
    days = forms.IntegerField(min_value=1, max_value=MAXIMUM_DAYS)


class LegalHoldForm(forms.Form):
    agent = forms.SlugField(max_length=80, widget=forms.HiddenInput)
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), help_text="The matter or request it is kept for."
    )


class LegalHoldReleaseForm(forms.Form):
    release_reason = forms.CharField(
        label="Why the hold may end", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

