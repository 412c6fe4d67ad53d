"""Forms for intake: the proposal (with the playbook's guidance per dimension) and the board's score."""

from __future__ import annotations

from django import forms

from .intake import BONUSES, DIMENSIONS
from .models import BONUS_MAX, SCORE_MAX, SCORE_MIN, Intake


def _style(form: forms.Form) -> None:
    for field in form.fields.values():
        css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
        field.widget.attrs.setdefault("class", css)


class IntakeForm(forms.ModelForm):
    """The proposal. Each dimension's answer carries the playbook's question and its 5 and 1 anchors."""

    class Meta:
        model = Intake
        fields = [
            "title",
            "problem",
            "unit_of_work",
            "daily_volume",
            "data_involved",
            "systems_touched",
            "human_baseline",
            "human_minutes_per_unit",
            "kpi_name",
            "team",
            *(d.answer_field for d in DIMENSIONS),
        ]
        widgets = {
            name: forms.Textarea(attrs={"rows": 2})
            for name in ("problem", "data_involved", "systems_touched", "human_baseline")
            + tuple(d.answer_field for d in DIMENSIONS)
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for d in DIMENSIONS:
            field = self.fields[d.answer_field]
            field.label = f"{d.label}: {d.question}"
            field.help_text = f"The board scores 1-5. 5 = {d.five}; 1 = {d.one}."
        self.fields["team"].required = False
        _style(self)


class IntakeScoreForm(forms.Form):
    """The board's scorecard: each dimension 1-5, bonuses 0-3."""

    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for d in DIMENSIONS:
            self.fields[d.score_field] = forms.IntegerField(
                label=d.label,
                min_value=SCORE_MIN,
                max_value=SCORE_MAX,
                help_text=f"5 = {d.five}; 1 = {d.one}.",
            )
        for name, label in BONUSES:
            self.fields[name] = forms.IntegerField(
                label=f"Bonus: {label}", min_value=0, max_value=BONUS_MAX, initial=0, required=False
            )
        # The note last, after the scores.
        self.fields["note"] = self.fields.pop("note")
        _style(self)

    def scores(self) -> dict:
        data = self.cleaned_data
        values = {d.score_field: data[d.score_field] for d in DIMENSIONS}
        values.update({name: data.get(name) or 0 for name, _ in BONUSES})
        return values
