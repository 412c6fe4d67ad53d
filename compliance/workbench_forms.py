"""Forms of the framework mapping, the serious-incident clock and kill-switch drills."""

from django import forms

from registry.models import Agent

from .models import DrillMode, SeriousKind


class ClassifySeriousForm(forms.Form):
    kind = forms.ChoiceField(choices=SeriousKind.choices, label="Kind (sets the reporting deadline)")
    aware_at = forms.DateTimeField(
        label="Aware since (UTC)",
        help_text="When you established a causal link, or its reasonable likelihood (Art. 73(2)).",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)


class DrillStartForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), to_field_name="slug")
    mode = forms.ChoiceField(choices=DrillMode.choices, initial=DrillMode.DRY_RUN)
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, agents=None, **kwargs):
        super().__init__(*args, **kwargs)
        if agents is not None:
            self.fields["agent"].queryset = agents


class DrillFinishForm(forms.Form):
    justification = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Live drills: why it is safe to turn side effects back on (a two-person change request).",
    )


class FrameworkFilterForm(forms.Form):
    framework = forms.ChoiceField(required=False)

    def __init__(self, *args, frameworks=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["framework"].choices = [("", "All frameworks"), *frameworks]
