"""Typed grant constraints: what a tool lets a grant limit, how a grant's limits are checked
when the grant is requested, and how a single action is measured against them.

A tool declares the constraint kinds it supports in ``Tool.constraint_schema``::

    {"max_amount_usd": {"parameter": "amount_usd"},   # compared with that action parameter
     "max_per_hour": {}, "max_per_day": {},           # actions of this agent with this tool
     "allowed_values": {"fields": ["currency"]}}      # these fields may be limited to a list

A grant's ``constraints`` then use those names: ``{"max_amount_usd": 500, "max_per_hour": 5,
"currency": ["USD", "EUR"]}`` (a field named under ``allowed_values`` takes the list of values
it may have; when the action gives that field, its value must be one of them). Anything else is
refused when the grant is requested, and an action under a grant holding a constraint its tool
does not declare (stored before constraints were typed) is denied: a limit the gate cannot read
is never ignored. The rates are counted by the action gate (``actions.services``) under a lock,
because a count is only true while nobody else can add to it; the rest is checked here.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

MAX_AMOUNT = "max_amount_usd"
MAX_PER_HOUR = "max_per_hour"
MAX_PER_DAY = "max_per_day"
ALLOWED_VALUES = "allowed_values"
CONSTRAINT_KINDS = (MAX_AMOUNT, MAX_PER_HOUR, MAX_PER_DAY, ALLOWED_VALUES)
RATE_WINDOWS = {MAX_PER_HOUR: timedelta(hours=1), MAX_PER_DAY: timedelta(days=1)}
MAX_ALLOWED_VALUES = 100


def schema_validate(schema) -> dict:
    """Check a tool's constraint schema; a ``ValidationError`` keyed ``constraint_schema`` names
    the kind that is wrong. Returns it unchanged."""
    if not isinstance(schema, dict):
        raise ValidationError({"constraint_schema": 'A JSON object of constraint kinds, e.g. {"max_per_hour": {}}.'})
    errors = []
    for kind, spec in schema.items():
        if kind not in CONSTRAINT_KINDS:
            errors.append(f"{kind}: not a constraint kind (use {', '.join(CONSTRAINT_KINDS)}).")
        elif not isinstance(spec, dict):
            errors.append(f"{kind}: a JSON object.")
        elif kind == MAX_AMOUNT and not (isinstance(spec.get("parameter"), str) and spec["parameter"]):
            errors.append(f'{kind}: name the parameter it is compared with, e.g. {{"parameter": "amount_usd"}}.')
        elif kind == ALLOWED_VALUES and not _is_field_list(spec.get("fields")):
            errors.append(
                f'{kind}: list the fields a grant may restrict, e.g. {{"fields": ["currency"]}} '
                "(not named like a constraint kind)."
            )
    if errors:
        raise ValidationError({"constraint_schema": errors})
    return schema


def _is_field_list(value) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and v and v not in CONSTRAINT_KINDS for v in value)
    )


def _restrictable_fields(schema: dict) -> list[str]:
    spec = (schema or {}).get(ALLOWED_VALUES)
    return list(spec.get("fields") or []) if isinstance(spec, dict) else []


def _declared(schema: dict) -> list[str]:
    return [k for k in (schema or {}) if k != ALLOWED_VALUES] + _restrictable_fields(schema)


def _positive_int(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _amount(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def _value_list_ok(values) -> bool:
    return (
        isinstance(values, list)
        and 1 <= len(values) <= MAX_ALLOWED_VALUES
        and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values)
    )


def constraint_error(name: str, value, schema: dict, tool_name: str) -> str | None:
    """What is wrong with one constraint of a grant, starting with its name, or ``None``."""
    if name not in _declared(schema):
        return (
            f"{name}: {tool_name} does not take this constraint (it takes: {', '.join(_declared(schema)) or 'none'})."
        )
    if name == MAX_AMOUNT:
        amount = _amount(value)
        return None if amount is not None and amount >= 0 else f"{name}: a non-negative amount in USD, e.g. 500."
    if name in RATE_WINDOWS:
        return None if _positive_int(value) is not None else f"{name}: a whole number of actions, at least 1."
    if not _value_list_ok(value):
        return f"{name}: a list of 1 to {MAX_ALLOWED_VALUES} allowed values (strings or whole numbers)."
    return None


def constraints_validate(*, tool_name: str, schema: dict, constraints) -> dict:
    """Check a grant's constraints against its tool's schema when the grant is requested. Every
    message starts with the constraint's name; they are raised together as a ``ValidationError``
    keyed ``constraints``. Returns the constraints as given (they are what gets hashed)."""
    if not isinstance(constraints, dict):
        raise ValidationError({"constraints": "Constraints must be a JSON object."})
    errors = [e for name, value in constraints.items() if (e := constraint_error(name, value, schema, tool_name))]
    if errors:
        raise ValidationError({"constraints": errors})
    return constraints


def constraint_refusal(*, tool_name: str, schema: dict, constraints: dict, values: dict) -> str | None:
    """Why a single action breaks one of the grant's constraints other than the rates, naming
    the constraint, or ``None``. ``values`` are the action's parameters (coerced by the policy)."""
    for name, limit in (constraints or {}).items():
        if constraint_error(name, limit, schema, tool_name):
            return (
                f"grant constraint {name} is not one {tool_name} declares with this value; the gate cannot enforce it"
            )
        if name == MAX_AMOUNT:
            reason = _amount_refusal(schema[MAX_AMOUNT]["parameter"], limit, values)
        elif name in RATE_WINDOWS:
            continue
        else:
            reason = _allowed_refusal(name, limit, values)
        if reason:
            return reason
    return None


def _amount_refusal(parameter: str, limit, values: dict) -> str | None:
    cap = _amount(limit)
    amount = _amount(values.get(parameter))
    if amount is None:
        return f"grant constraint {MAX_AMOUNT}: the action has no {parameter} to compare with {cap} USD"
    if amount > cap:
        return f"grant constraint {MAX_AMOUNT}: {parameter} {amount} is over the granted {cap} USD"
    return None


def _allowed_refusal(name: str, allowed: list, values: dict) -> str | None:
    value = values.get(name)
    if value is not None and str(value) not in {str(v) for v in allowed}:
        return f"grant constraint {name}: {value!r} is not allowed (allowed: {', '.join(map(str, allowed))})"
    return None


def rate_limits(constraints: dict) -> list[tuple[str, int, timedelta]]:
    """The grant's rate constraints as (name, limit, window)."""
    return [
        (name, constraints[name], window)
        for name, window in RATE_WINDOWS.items()
        if _positive_int((constraints or {}).get(name)) is not None
    ]
