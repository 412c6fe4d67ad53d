"""Forms: they parse and say what is wrong; the services decide."""

from __future__ import annotations

import json

from django import forms

from registry.choices import RiskTier, VersionState
from registry.models import Agent, Tool

from .choices import RequestKind, Verdict

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


def _version_choices(agent: Agent, states: tuple[str, ...]):
    return [
        (v.label, f"{v.label} — {v.model_provider} / {v.model_name}") for v in agent.versions.filter(state__in=states)
    ]


class ChangeRequestForm(forms.Form):
    """One form for every built-in kind: the fields depend on the kind; ``payload()`` builds the
    data the engine validates (its errors come back onto these fields)."""

    justification = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say why this change is needed."},
    )

    def __init__(self, *args, agent: Agent, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.agent, self.kind = agent, kind
        if kind == RequestKind.NEW_VERSION:
            self.fields["version"] = forms.ChoiceField(
                choices=_version_choices(agent, (VersionState.DRAFT, VersionState.IN_REVIEW)),
                help_text="A draft version to review and approve.",
            )
        elif kind in (RequestKind.GO_LIVE, RequestKind.ROLLOUT_STEP):
            self.fields["version"] = forms.ChoiceField(
                choices=_version_choices(agent, (VersionState.APPROVED,)), help_text="Only approved versions."
            )
        if kind == RequestKind.ROLLOUT_STEP:
            self.fields["share_pct"] = forms.DecimalField(
                label="Canary traffic share (%)", min_value=0, max_value=100, decimal_places=2
            )
        elif kind == RequestKind.TOOL_GRANT:
            deployed = agent.deployed_version
            granted = deployed.grants.values("tool") if deployed else []
            self.fields["tool"] = forms.ModelChoiceField(
                queryset=Tool.objects.exclude(pk__in=granted).order_by("name"),
                to_field_name="name",
                help_text="Applied as a new version: the deployed one plus this tool.",
            )
            self.fields["constraints"] = forms.CharField(
                required=False,
                max_length=4000,
                widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
                help_text='Optional JSON object, e.g. {"max_amount_usd": 50}.',
            )
        elif kind == RequestKind.TIER_CHANGE:
            self.fields["risk_tier"] = forms.TypedChoiceField(
                choices=[c for c in RiskTier.choices if c[0] != agent.risk_tier], coerce=int, label="New risk tier"
            )
        # Justification last, after what is being asked for.
        self.order_fields([f for f in self.fields if f != "justification"] + ["justification"])
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs["class"] = (css + " " + field.widget.attrs.get("class", "")).strip()

    def clean_constraints(self):
        raw = (self.cleaned_data.get("constraints") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Constraints must be a JSON object, e.g. {"max_amount_usd": 50}.')
        return value

    def payload(self) -> dict:
        data = self.cleaned_data
        if self.kind in (RequestKind.NEW_VERSION, RequestKind.GO_LIVE):
            return {"version": data["version"]}
        if self.kind == RequestKind.ROLLOUT_STEP:
            return {"version": data["version"], "share_pct": str(data["share_pct"])}
        if self.kind == RequestKind.TOOL_GRANT:
            return {"tool": data["tool"].name, "constraints": data.get("constraints") or {}}
        if self.kind == RequestKind.TIER_CHANGE:
            return {"risk_tier": data["risk_tier"]}
        return {}

    def add_service_errors(self, error) -> None:
        """Put a service ``ValidationError`` onto the matching fields (others on the form)."""
        for field, messages in getattr(error, "message_dict", {"__all__": error.messages}).items():
            target = field if field in self.fields else None
            for message in messages:
                self.add_error(target, message)
