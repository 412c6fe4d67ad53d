"""Forms: they parse and say what is wrong; the services decide."""

from __future__ import annotations

from django import forms

from registry.models import Agent

from .choices import Verdict
from .kinds import kind_get

REASON_MAX = 2000


class DecisionForm(forms.Form):
    verdict = forms.ChoiceField(choices=Verdict.choices, widget=forms.HiddenInput)
    reason = forms.CharField(
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "A reason is required."},
        help_text="Required: what you checked, or why not.",
    )
    payload_hash = forms.RegexField(
        regex=r"^[0-9a-f]{64}$",
        widget=forms.HiddenInput,
        error_messages={"invalid": "The payload fingerprint is missing or malformed; reload the page."},
    )


class TickForm(forms.Form):
    evidence = forms.CharField(
        max_length=2000,
        error_messages={"required": "Evidence is required: a link or a note."},
        help_text="A link to the evidence (https://…) or a short note.",
    )


class WithdrawForm(forms.Form):
    pass


class ChangeRequestForm(forms.Form):
    """One form for every kind: the kind's ``KindSpec.form_fields`` say what it asks for, and
    ``payload()`` is their cleaned data, which the engine validates (its errors come back onto
    these fields)."""

    justification = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say why this change is needed."},
    )

    def __init__(self, *args, agent: Agent, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.agent, self.kind = agent, kind
        spec = kind_get(kind)
        self.kind_field_names = []
        if spec.form_fields is not None:
            kind_fields = spec.form_fields(agent)
            self.fields.update(kind_fields)
            self.kind_field_names = list(kind_fields)
        # Justification last, after what is being asked for.
        self.order_fields([f for f in self.fields if f != "justification"] + ["justification"])
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs["class"] = (css + " " + field.widget.attrs.get("class", "")).strip()

    def payload(self) -> dict:
        """The kind's fields, cleaned: exactly the payload the engine validates."""
        return {name: self.cleaned_data[name] for name in self.kind_field_names}

    def add_service_errors(self, error) -> None:
        """Put a service ``ValidationError`` onto the matching fields (others on the form)."""
        for field, messages in getattr(error, "message_dict", {"__all__": error.messages}).items():
            target = field if field in self.fields else None
            for message in messages:
                self.add_error(target, message)
