"""Governed fields, declared once: what no form, API call or admin page may write directly.

A governed field changes only when an approval request of the named kind is applied; every
write path (console forms, the API, the Django admin — superusers included) shows it read-only
and offers that request instead. Fields the registry derives itself (review dates, go-live
date, revisions, digests) are never typed by anyone.

The registry declares its own models' fields here. An app above it that owns a control (the
action gate's policies, approval policies, drift policies) declares its own with
:func:`governed_fields_register` from its ``AppConfig.ready()``; the door test
(``tests/test_governed_doors.py``), the admin and the README read this one list.

Kinds are named by their string value: the kinds themselves live in ``approvals`` (above the
registry), which checks at start-up that every kind named here is registered."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import models

from .extensions import ExtensionPoint
from .models import Agent, AgentVersion, GlobalControls, Tool, ToolGrant


@dataclass(frozen=True)
class GovernedField:
    """``model.field`` changes only through an applied request of ``kind``.

    ``on_create``: whether the creator may choose the value when registering a new object (a new
    agent's tier or owner team, a new tool's action tier: nothing runs on them yet); a field that
    is not settable on create starts at its default (a new agent is ``proposed``)."""

    model: type[models.Model]
    field: str
    kind: str
    on_create: bool = True

    @property
    def label(self) -> str:
        return str(self.model._meta.get_field(self.field).verbose_name)

    def __str__(self) -> str:
        return f"{self.model._meta.label}.{self.field}"


# Kind values, spelled once (approvals registers kinds with these values).
TIER_CHANGE = "tier_change"
STATUS_CHANGE = "status_change"
SCOPE_CHANGE = "scope_change"
REENABLE_SIDE_EFFECTS = "reenable_side_effects"
ROLLOUT_STEP = "rollout_step"
NEW_VERSION = "new_version"
TOOL_GRANT = "tool_grant"
TOOL_TIER_CHANGE = "tool_tier_change"
FLEET_REENABLE = "fleet_reenable"
APPROVAL_POLICY_CHANGE = "approval_policy_change"

# Kinds that release or widen under the agent's own release policy (checklist, tier policy) rather
# than loosening a control: every other kind a governed field names needs two people.
RELEASE_AND_GRANT_KINDS = (NEW_VERSION, ROLLOUT_STEP, TOOL_GRANT)

# Agent fields a scope change moves: who answers for the agent, what it may touch, what it must meet.
AGENT_SCOPE_FIELDS = (
    "owner_team",
    "owner",
    "sponsor",
    "data_classification",
    "data_sources",
    "systems",
    "success_threshold_pct",
    "escalation_threshold_pct",
    "monthly_budget_usd",
    # Budgets that act (registry/budgets.py): raising a cap is a two-person scope change.
    "budget_hard_cap_usd",
    "budget_hard_cap_action",
    "budget_day_cost_usd",
    "budget_day_steps",
    "budget_session_cost_usd",
    "budget_session_steps",
)

# Computed by the registry from other facts; no form, API or admin page accepts them.
DERIVED_FIELDS: dict[type[models.Model], tuple[str, ...]] = {
    Agent: ("last_reviewed_on", "next_review_due", "deployed_at", "controls_revision"),
    AgentVersion: ("bundle_digest", "approved_at", "deployed_at"),
}

governed_fields: ExtensionPoint[GovernedField] = ExtensionPoint("governed_fields")


def governed_fields_register(*fields: GovernedField, order: int = 100) -> None:
    """Declare more governed fields (from an upper app's ``AppConfig.ready()``)."""
    for item in fields:
        governed_fields.register(item, order=order)


governed_fields_register(
    GovernedField(Agent, "risk_tier", TIER_CHANGE),
    GovernedField(Agent, "status", STATUS_CHANGE, on_create=False),
    *(GovernedField(Agent, name, SCOPE_CHANGE) for name in AGENT_SCOPE_FIELDS),
    GovernedField(Agent, "side_effects_enabled", REENABLE_SIDE_EFFECTS, on_create=False),
    GovernedField(Agent, "canary_version", ROLLOUT_STEP, on_create=False),
    GovernedField(Agent, "canary_share_pct", ROLLOUT_STEP, on_create=False),
    GovernedField(AgentVersion, "state", NEW_VERSION, on_create=False),
    GovernedField(Tool, "action_tier", TOOL_TIER_CHANGE),
    GovernedField(ToolGrant, "tool", TOOL_GRANT),
    GovernedField(ToolGrant, "constraints", TOOL_GRANT),
    GovernedField(GlobalControls, "side_effects_enabled", FLEET_REENABLE, on_create=False),
    order=0,
)


def governed_for(model: type[models.Model]) -> list[GovernedField]:
    """The governed fields of ``model``, in declaration order."""
    return [g for g in governed_fields if g.model is model]


def governed_field_names(model: type[models.Model], *, creating: bool = False) -> set[str]:
    """Names no write path may accept for ``model`` (on create: those not settable on create),
    derived fields included."""
    names = {g.field for g in governed_for(model) if not (creating and g.on_create)}
    return names | set(DERIVED_FIELDS.get(model, ()))


def governed_kind_for(model: type[models.Model], field: str) -> str | None:
    """The request kind that changes ``model.field``, or None if the field is not governed."""
    return next((g.kind for g in governed_for(model) if g.field == field), None)


def governed_models() -> list[type[models.Model]]:
    return list(dict.fromkeys(g.model for g in governed_fields))


# --- values as request payloads carry them --------------------------------------------------
# A payload is JSON: a foreign key travels as its pk, a many-to-many as its sorted pks, a decimal
# as its string. The same conversion reads the stored value ("from") and the proposed one.


def governed_value_canonical(model: type[models.Model], field: str, value):
    """``value`` (a model instance, queryset, decimal…) as JSON for a request payload."""
    model_field = model._meta.get_field(field)
    if model_field.many_to_many:
        return sorted(obj.pk if isinstance(obj, models.Model) else int(obj) for obj in (value or []))
    if isinstance(value, models.Model):
        return value.pk
    if model_field.get_internal_type() == "DecimalField" and value is not None:
        # At the column's scale: "92", "92.0" and "92.00" are the same threshold.
        return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-model_field.decimal_places)))
    return value


def governed_value_current(obj: models.Model, field: str):
    """The stored value of ``obj.field`` in payload form."""
    model_field = obj._meta.get_field(field)
    if model_field.many_to_many:
        return sorted(getattr(obj, field).values_list("pk", flat=True)) if obj.pk else []
    if model_field.is_relation:
        return getattr(obj, model_field.attname)
    return governed_value_canonical(type(obj), field, getattr(obj, field))


def governed_formfield(model: type[models.Model], field: str):
    """The form field that parses a proposed value of ``model.field`` (choices limited as the
    model limits them)."""
    model_field = model._meta.get_field(field)
    formfield = model_field.formfield()
    limit = model_field.get_limit_choices_to() if model_field.is_relation else None
    if limit and hasattr(formfield, "queryset"):
        formfield.queryset = formfield.queryset.complex_filter(limit)
    if hasattr(formfield, "queryset") and hasattr(model_field.related_model, "is_active"):
        # Only active people can answer for an agent.
        formfield.queryset = formfield.queryset.filter(is_active=True)
    return formfield


def governed_value_parse(model: type[models.Model], field: str, raw):
    """Parse a proposed value (a form's raw input or a payload's JSON) into payload form.
    Raises ``django.core.exceptions.ValidationError`` with the form field's own message."""
    formfield = governed_formfield(model, field)
    if model._meta.get_field(field).many_to_many and isinstance(raw, str):
        raw = [part for part in raw.replace(",", " ").split() if part]
    cleaned = formfield.clean(raw)
    model_field = model._meta.get_field(field)
    if not model_field.is_relation and cleaned not in model_field.empty_values:
        # The model field's validators too (percentages 0-100, money >= 0).
        model_field.run_validators(cleaned)
    return governed_value_canonical(model, field, cleaned)


def governed_value_words(model: type[models.Model], field: str, value) -> str:
    """A payload value in words, for the request page: names, not pks."""
    model_field = model._meta.get_field(field)
    if value is None or value == []:
        return "none"
    if model_field.many_to_many:
        names = model_field.related_model.objects.filter(pk__in=value).order_by("pk")
        return ", ".join(str(obj) for obj in names) or "none"
    if model_field.is_relation:
        obj = model_field.related_model.objects.filter(pk=value).first()
        return str(obj) if obj else f"#{value} (removed)"
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    return str(value)
