"""The request's context (issue 18, item 4): the facts rules read as ``context.<name>``.

Declared (names and types) in :data:`actions.language.CONTEXT_FIELDS`, where the type checker
knows them; computed here once per request in **one query** (the agent row annotated with
subqueries: spend counters, this tool's recent actions, the on-behalf-of user's roles, and what
apps above contribute through :data:`context_expressions`, e.g. incidents' "active incident"),
the clock facts in Python. The gate reads these annotations with its policy query (one round trip for policy, fleet
switch and context). The values go into the same ``values`` dict as the parameters, keyed
``context.<name>``, so a shadow policy or a backtest evaluates them on the same code; the
decision stores them (JSON form) in ``decision_snapshot["context"]`` and
:func:`context_from_snapshot` reads them back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, Expression, Q, Subquery, Value
from django.db.models.functions import Coalesce

from registry import roles as role_names
from registry.budgets import budget_zone, period_keys
from registry.choices import SpendPeriod
from registry.extensions import ExtensionPoint
from registry.models import Agent, SpendCounter, Tool

from .choices import ActionStatus
from .language import _WEEKDAYS, CONTEXT_FIELDS, CONTEXT_PREFIX
from .models import ActionRequest

MAX_ON_BEHALF_OF = 150
MAX_SESSION_ID = 100
APPROVER_ROLES = (role_names.APPROVER, role_names.GOVERNANCE_BOARD)
# Requests that count as actions on a tool (the rate limits count the same): not denied, not expired.
COUNTED_STATUSES = (ActionStatus.ALLOWED, ActionStatus.PENDING, ActionStatus.APPROVED)
ZERO = Decimal("0")


@dataclass(frozen=True)
class ContextExpression:
    """A boolean context field an app above contributes as an ORM expression for the agent of the
    given id (``expression(agent_id)``), so it joins the one context query."""

    name: str
    expression: Callable[[int], Expression]


context_expressions: ExtensionPoint[ContextExpression] = ExtensionPoint("action-gate context")


@dataclass(frozen=True)
class RequestContext:
    """What the agent sent for the context: its session and the user it acts for (both optional)."""

    session_id: str | None = None
    on_behalf_of: str | None = None
    canary: bool = False


def _counter(agent_id: int, period: str, key: str | None, column: str):
    if key is None:
        return Value(None, output_field=SpendCounter._meta.get_field(column))
    rows = SpendCounter.objects.filter(agent_id=agent_id, period=period, key=key)
    return Subquery(rows.values(column)[:1])


def _tool_actions_since(agent_id: int, tool_ref, since: datetime):
    rows = (
        ActionRequest.objects.filter(
            agent_id=agent_id, tool_id=tool_ref, status__in=COUNTED_STATUSES, created_at__gt=since
        )
        .order_by()
        .values("agent")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


def _is_approver(on_behalf_of: str | None):
    if not on_behalf_of:
        return Value(False)
    users = get_user_model().objects.filter(
        Q(username=on_behalf_of) | Q(email__iexact=on_behalf_of), is_active=True, groups__name__in=APPROVER_ROLES
    )
    return Exists(users)


def context_annotations(*, agent_id: int, tool_ref, request: RequestContext, now: datetime) -> dict:
    """The context's database facts as annotations (names ``ctx_*``) for any one-row query: the
    gate adds them to its policy query (``tool_ref`` = ``OuterRef("tool_id")``), so policy, fleet
    switch and context are one round trip; :func:`context_compute` puts them on the agent row."""
    day, month = period_keys(now)
    session = request.session_id or None
    annotations = {
        "ctx_month": _counter(agent_id, SpendPeriod.MONTH, month, "cost_usd"),
        "ctx_day": _counter(agent_id, SpendPeriod.DAY, day, "cost_usd"),
        "ctx_day_steps": _counter(agent_id, SpendPeriod.DAY, day, "steps"),
        "ctx_session_cost": _counter(agent_id, SpendPeriod.SESSION, session, "cost_usd"),
        "ctx_session_steps": _counter(agent_id, SpendPeriod.SESSION, session, "steps"),
        "ctx_hour_actions": _tool_actions_since(agent_id, tool_ref, now - timedelta(hours=1)),
        "ctx_day_actions": _tool_actions_since(agent_id, tool_ref, now - timedelta(days=1)),
        "ctx_obo_approver": _is_approver(request.on_behalf_of),
    }
    for item in context_expressions:
        annotations[f"ctx_x_{item.name}"] = item.expression(agent_id)
    return annotations


def context_values(*, agent: Agent, row: dict, request: RequestContext, now: datetime) -> dict:
    """The context values (``{"context.<name>": value}``, numbers as ``Decimal``) from the agent,
    the clock and ``row`` (the annotations of :func:`context_annotations`, read back)."""
    session = request.session_id or None
    local = now.astimezone(budget_zone())
    values = {
        "agent_tier": Decimal(int(agent.risk_tier)),
        "environment": agent.status,
        "canary": bool(request.canary),
        "active_incident": False,
        "data_classification": agent.data_classification,
        "hour": Decimal(local.hour),
        "minute_of_day": Decimal(local.hour * 60 + local.minute),
        "weekday": _WEEKDAYS[local.weekday()],
        "on_behalf_of": request.on_behalf_of or None,
        "on_behalf_of_is_approver": bool(row["ctx_obo_approver"]),
        "spend_today_usd": row["ctx_day"] or ZERO,
        "spend_month_usd": row["ctx_month"] or ZERO,
        "steps_today": Decimal(row["ctx_day_steps"] or 0),
        "tool_actions_last_hour": Decimal(row["ctx_hour_actions"]),
        "tool_actions_last_day": Decimal(row["ctx_day_actions"]),
        "session_step": Decimal((row["ctx_session_steps"] or 0) + 1) if session else None,
        "session_cost_usd": (row["ctx_session_cost"] or ZERO) if session else None,
    }
    for item in context_expressions:
        values[item.name] = bool(row[f"ctx_x_{item.name}"])
    return {CONTEXT_PREFIX + name: value for name, value in values.items()}


def context_compute(*, agent: Agent, tool: Tool, request: RequestContext, now: datetime) -> dict:
    """The context values for one request in one query of its own (the gate reads them with its
    policy query instead, when the tool has a policy)."""
    annotations = context_annotations(agent_id=agent.pk, tool_ref=tool.pk, request=request, now=now)
    row = Agent.objects.filter(pk=agent.pk).annotate(**annotations).values(*annotations).get()
    return context_values(agent=agent, row=row, request=request, now=now)


def context_as_json(values: dict) -> dict:
    """The context part of ``values`` as stored in the decision snapshot: names without the
    prefix, numbers as exact strings."""
    stored = {}
    for key, value in values.items():
        if key.startswith(CONTEXT_PREFIX):
            stored[key[len(CONTEXT_PREFIX) :]] = str(value) if isinstance(value, Decimal) else value
    return stored


def context_from_snapshot(snapshot: dict | None) -> dict:
    """The ``context.*`` values a decision used, from its stored snapshot (for a backtest or the
    why-page); ``{}`` for a decision recorded before context existed."""
    stored = (snapshot or {}).get("context") or {}
    values = {}
    for name, value in stored.items():
        spec = CONTEXT_FIELDS.get(name)
        if spec is not None and spec["type"] in ("decimal", "integer") and value is not None:
            value = Decimal(value)
        values[CONTEXT_PREFIX + name] = value
    return values


def request_context_parse(*, session_id, on_behalf_of) -> tuple[RequestContext, list[dict]]:
    """The agent's ``session_id`` and ``on_behalf_of`` (both optional strings) checked; errors as
    ``{"code", "field", "message"}`` dicts."""
    errors = []
    for name, raw, limit in (
        ("session_id", session_id, MAX_SESSION_ID),
        ("on_behalf_of", on_behalf_of, MAX_ON_BEHALF_OF),
    ):
        if raw is None or raw == "":
            continue
        if not isinstance(raw, str) or not raw.strip() or len(raw) > limit or not raw.isprintable():
            errors.append(
                {"code": "invalid", "field": name, "message": f"{name}: a string of 1 to {limit} printable characters."}
            )
    if errors:
        return RequestContext(), errors
    return RequestContext(
        session_id=(session_id or "").strip() or None, on_behalf_of=(on_behalf_of or "").strip() or None
    ), []
