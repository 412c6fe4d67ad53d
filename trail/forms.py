from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from registry.choices import ActorKind
from registry.models import Agent

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


OBJECT_TYPE = RegexValidator(
    r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", 'An object type is "app_label.model", e.g. actions.actionrequest.'
)
ACTION = RegexValidator(r"^[a-z][a-z0-9_.-]*$", "An action is lower-case words joined by dots, e.g. decision.approve.")


class AuditFilterForm(forms.Form):
    """The explorer's filters, shared by the page, the exports and the API. Every field is
    optional; a bad value is a field error (the page answers 400, the API 400 with the errors)."""

    actor_kind = forms.ChoiceField(choices=[("", "Any actor"), *ActorKind.choices], required=False)
    actor = forms.CharField(max_length=200, required=False, help_text="A name, part of one, or an id.")
    agent = forms.SlugField(max_length=80, required=False, help_text="The agent's slug.")
    object_type = forms.CharField(max_length=100, required=False, validators=[OBJECT_TYPE])
    object_id = forms.CharField(max_length=100, required=False)
    action = forms.CharField(max_length=60, required=False, validators=[ACTION])
    since = forms.DateField(required=False, help_text="From this day (UTC), inclusive.")
    until = forms.DateField(required=False, help_text="To this day (UTC), inclusive.")
    q = forms.CharField(label="Text", max_length=200, required=False)

    def clean_agent(self):
        slug = self.cleaned_data.get("agent")
        if not slug:
            return None
        agent = Agent.objects.filter(slug=slug).first()
        if agent is None:
            raise forms.ValidationError(f"No agent with the slug {slug!r}.")
        return agent

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end of the range is before its start.")
        return data
