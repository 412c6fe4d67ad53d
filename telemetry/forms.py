from django import forms
from django.contrib.auth import get_user_model

from registry.governance import governed_field_names
from registry.models import Agent, Tool
from registry.services import DEFAULT_KEY_LIFETIME_DAYS, MAX_KEY_LIFETIME_DAYS


class _Bootstrap:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select | forms.SelectMultiple) else "form-control"
            field.widget.attrs.setdefault("class", css)


class KeyIssueForm(_Bootstrap, forms.Form):
    name = forms.CharField(
        max_length=50, help_text="Where the key is used, e.g. “prod cluster eu-west”. 50 characters at most."
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        min_value=1,
        max_value=MAX_KEY_LIFETIME_DAYS,
        initial=DEFAULT_KEY_LIFETIME_DAYS,
        help_text=f"1 to {MAX_KEY_LIFETIME_DAYS} days; {DEFAULT_KEY_LIFETIME_DAYS} by default.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name


class KeyRotateForm(_Bootstrap, forms.Form):
    grace_hours = forms.TypedChoiceField(
        label="Old key keeps working for",
        coerce=int,
        choices=[(0, "no time (revoke now)"), (1, "1 hour"), (24, "24 hours"), (72, "72 hours")],
        initial=0,
    )


class DiscoveredAgentForm(_Bootstrap, forms.ModelForm):
    """Register a discovered agent. Only what a new agent needs; the status is not offered, so
    the agent starts as *proposed* (``registry.governance``: not settable on create)."""

    class Meta:
        model = Agent
        fields = ["slug", "name", "purpose", "unit_of_work", "kpi_name", "owner_team", "owner", "risk_tier"]
        widgets = {"purpose": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        governed = governed_field_names(Agent, creating=True)
        for name in governed & set(self.fields):
            del self.fields[name]
        if "owner" in self.fields:
            self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")


class CatalogToolForm(_Bootstrap, forms.ModelForm):
    """Add a discovered tool to the catalog (its name as seen, when the catalog can hold it)."""

    class Meta:
        model = Tool
        fields = ["name", "system", "description", "action_tier"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
