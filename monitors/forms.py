"""Forms of the monitors pages: they parse and validate input; the services decide."""

from __future__ import annotations

from django import forms

from registry.channel_models import AlertChannel
from registry.channels import ALERT_KINDS
from registry.choices import AlertChannelKind, AlertSeverity
from registry.models import Agent, Team

from .choices import Comparator, Metric, NoData, Scope
from .models import SLO

MAX_CONDITIONS = 3


class MonitorForm(forms.Form):
    """A monitor and up to three conditions (the first required; all must hold)."""

    name = forms.CharField(max_length=120)
    scope = forms.ChoiceField(choices=Scope.choices)
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    no_data = forms.ChoiceField(choices=NoData.choices, initial=NoData.OK, label="Without data")

    def __init__(self, *args, agents=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents if agents is not None else Agent.objects.none()
        for i in range(1, MAX_CONDITIONS + 1):
            required = i == 1
            self.fields[f"metric_{i}"] = forms.ChoiceField(
                choices=([] if required else [("", "—")]) + list(Metric.choices),
                required=required,
                label=f"Condition {i}: metric",
            )
            self.fields[f"comparator_{i}"] = forms.ChoiceField(choices=Comparator.choices, required=False, label="is")
            self.fields[f"window_{i}"] = forms.IntegerField(
                min_value=5, max_value=1440, required=False, initial=5, label="over minutes (5 to 1,440)"
            )
            self.fields[f"warning_{i}"] = forms.DecimalField(
                max_digits=14, decimal_places=4, required=False, label="warning at"
            )
            self.fields[f"alert_{i}"] = forms.DecimalField(
                max_digits=14, decimal_places=4, required=required, label="alert at"
            )

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope == Scope.AGENT and not data.get("agent"):
            self.add_error("agent", "Choose the agent this monitor watches.")
        if scope == Scope.TEAM and not data.get("team"):
            self.add_error("team", "Choose the team whose agents this monitor watches.")
        for i in range(1, MAX_CONDITIONS + 1):
            if data.get(f"metric_{i}") and data.get(f"alert_{i}") is None:
                self.add_error(f"alert_{i}", "Give the alert threshold of this condition.")
        return data

    def definition(self) -> dict:
        """The monitor as ``services.monitor_create`` and ``monitor_update`` take it."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "scope": data["scope"],
            "agent": data.get("agent"),
            "team": data.get("team"),
            "no_data": data["no_data"],
            "conditions": self.conditions(),
        }

    def conditions(self) -> list[dict]:
        out = []
        for i in range(1, MAX_CONDITIONS + 1):
            metric = self.cleaned_data.get(f"metric_{i}")
            if not metric:
                continue
            out.append(
                {
                    "metric": metric,
                    "comparator": self.cleaned_data.get(f"comparator_{i}") or Comparator.ABOVE,
                    "window_minutes": self.cleaned_data.get(f"window_{i}") or 5,
                    "warning_threshold": self.cleaned_data.get(f"warning_{i}"),
                    "alert_threshold": self.cleaned_data[f"alert_{i}"],
                }
            )
        return out


class SLOForm(forms.ModelForm):
    class Meta:
        model = SLO
        fields = ["agent", "channel", "availability_target", "latency_threshold_ms", "latency_target", "period_days"]

    def __init__(self, *args, agents=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents if agents is not None else Agent.objects.none()

    def validate_unique(self):
        pass  # the service's full_clean reports a second SLO for the same agent and channel


class AlertChannelForm(forms.Form):
    """A new alert channel; ``registry.channels.alert_channel_create`` fills the kind's defaults and
    checks the rest (the outbound guard on the URL, the routing key, the addresses)."""

    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=AlertChannelKind.choices)
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, help_text="None: every team's alerts.")
    url = forms.URLField(
        max_length=500, required=False, label="URL", help_text=AlertChannel._meta.get_field("url").help_text
    )
    emails = forms.CharField(max_length=1000, required=False, help_text="E-mail channel: addresses, comma-separated.")
    secret = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="PagerDuty: the routing key. Signed webhook: leave empty for a new whsec_ secret.",
    )
    alert_kinds = forms.MultipleChoiceField(
        choices=list(ALERT_KINDS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None: every kind.",
    )
    min_severity = forms.ChoiceField(choices=AlertSeverity.choices, initial=AlertSeverity.WARNING)


class PreferencesForm(forms.Form):
    """One checkbox per alert kind: send it to me by e-mail."""

    def __init__(self, *args, current: dict[str, bool], **kwargs):
        super().__init__(*args, **kwargs)
        for kind, label in ALERT_KINDS.items():
            self.fields[kind] = forms.BooleanField(required=False, initial=current.get(kind, True), label=label)
