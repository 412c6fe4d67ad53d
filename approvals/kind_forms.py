"""The request form's fields for each built-in kind, carried by ``KindSpec.form_fields``.

Each factory takes the agent and returns ``{name: form field}``; every field cleans to the
payload value of the same name, so the request form needs no per-kind code: its payload is the
cleaned data of the kind's fields, and the kind's ``normalize`` checks it as it checks the API's.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms

from registry.choices import PROMOTABLE_VERSION_STATES, RiskTier, VersionState
from registry.models import Agent, Tool

MAX_CONSTRAINTS_CHARS = 4000


class DecimalTextField(forms.DecimalField):
    """A decimal that cleans to its text ("12.50"): payloads are JSON, and JSON has no decimals."""

    def clean(self, value) -> str | None:
        cleaned: Decimal | None = super().clean(value)
        return None if cleaned is None else str(cleaned)


class JSONObjectField(forms.CharField):
    """Optional JSON object text (blank means ``{}``), cleaned to the object."""

    def clean(self, value) -> dict:
        raw = (super().clean(value) or "").strip()
        if not raw:
            return {}
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError('Constraints must be a JSON object, e.g. {"max_amount_usd": 50}.')
        return parsed


def _version_field(agent: Agent, states: tuple[str, ...], help_text: str) -> forms.ChoiceField:
    versions = agent.versions.filter(state__in=states)
    return forms.ChoiceField(
        choices=[(v.label, f"{v.label} — {v.model_provider} / {v.model_name}") for v in versions], help_text=help_text
    )


def new_version_fields(agent: Agent) -> dict[str, forms.Field]:
    return {
        "version": _version_field(
            agent, (VersionState.DRAFT, VersionState.IN_REVIEW), "A draft version to review and approve."
        )
    }


def go_live_fields(agent: Agent) -> dict[str, forms.Field]:
    return {"version": _version_field(agent, PROMOTABLE_VERSION_STATES, "Only approved (or rolled-back) versions.")}


def rollout_step_fields(agent: Agent) -> dict[str, forms.Field]:
    return {
        "version": _version_field(agent, (VersionState.APPROVED,), "Only approved versions."),
        "share_pct": DecimalTextField(label="Canary traffic share (%)", min_value=0, max_value=100, decimal_places=2),
    }


class _ToolNameField(forms.ModelChoiceField):
    def clean(self, value) -> str:
        return super().clean(value).name


def tool_grant_fields(agent: Agent) -> dict[str, forms.Field]:
    deployed = agent.deployed_version
    granted = deployed.grants.values("tool") if deployed else []
    return {
        "tool": _ToolNameField(
            queryset=Tool.objects.exclude(pk__in=granted).order_by("name"),
            to_field_name="name",
            help_text="Applied as a new version: the deployed one plus this tool.",
        ),
        "constraints": JSONObjectField(
            required=False,
            max_length=MAX_CONSTRAINTS_CHARS,
            widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
            help_text='Optional JSON object, e.g. {"max_amount_usd": 50}.',
        ),
    }


def tier_change_fields(agent: Agent) -> dict[str, forms.Field]:
    return {
        "risk_tier": forms.TypedChoiceField(
            choices=[c for c in RiskTier.choices if c[0] != agent.risk_tier], coerce=int, label="New risk tier"
        )
    }
