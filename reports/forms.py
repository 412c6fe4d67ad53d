"""Report inputs: the period of a report, review completion, ad-hoc reviews, investments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import forms
from django.utils import timezone

from registry.choices import ReviewKind, ReviewOutcome

PERIOD_CHOICES = [
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("180", "Last 180 days"),
    ("365", "Last 365 days"),
]
MAX_EXPORT_DAYS = 366


class PeriodForm(forms.Form):
    """``?days=`` (one of the choices, default 90); the period ends today (exclusive)."""

    days = forms.TypedChoiceField(choices=PERIOD_CHOICES, coerce=int, required=False, empty_value=90, label="Period")

    def clean_days(self) -> int:
        return self.cleaned_data.get("days") or 90


class MonthForm(forms.Form):
    """``?month=YYYY-MM`` for the review calendar (default: this month)."""

    month = forms.RegexField(
        regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        error_messages={"invalid": "Use the form YYYY-MM, for example 2026-11."},
    )

    def clean_month(self) -> date | None:
        value = self.cleaned_data.get("month")
        if not value:
            return None
        year, month = map(int, value.split("-"))
        if not 2000 <= year <= 2100:
            raise forms.ValidationError("Choose a year between 2000 and 2100.")
        return date(year, month, 1)


class ReviewCompleteForm(forms.Form):
    findings = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=20000,
        strip=True,
        help_text="What was looked at, what was found, what must change.",
    )
    outcome = forms.ChoiceField(choices=[("", "— choose —"), *ReviewOutcome.choices])


class AdHocReviewForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=None, to_field_name="slug")
    kind = forms.ChoiceField(
        choices=[(ReviewKind.AD_HOC_SCOPE, "Scope change"), (ReviewKind.AD_HOC_INCIDENT, "Incident")]
    )
    reason = forms.CharField(max_length=300, strip=True)
    due_on = forms.DateField(
        required=False, help_text="Default: in 14 days.", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, agents=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents

    def clean_due_on(self):
        due = self.cleaned_data.get("due_on")
        if due and due < timezone.localdate():
            raise forms.ValidationError("The due date cannot be in the past.")
        return due


class InvestmentForm(forms.Form):
    build_cost_usd = forms.DecimalField(
        label="One-time build cost (USD)", min_value=Decimal("0"), max_digits=14, decimal_places=2
    )
    note = forms.CharField(max_length=300, required=False, strip=True)


class EvidenceForm(forms.Form):
    """The period of an evidence export: ``since`` (inclusive) to ``until`` (inclusive day), UTC
    days; by default the last 365 days up to today."""

    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        today = timezone.now().date()
        since = cleaned.get("since") or date(today.year - 1, today.month, min(today.day, 28))
        until = cleaned.get("until") or today
        for value in (since, until):
            if not 2000 <= value.year <= 2100:
                raise forms.ValidationError("Choose dates between 2000 and 2100.")
        if since > until:
            raise forms.ValidationError("The start of the period must not be after its end.")
        cleaned["since"], cleaned["until"] = since, until
        return cleaned
