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

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Expression

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


# The context fields read from the database, in the order of the context query's columns. The
# others (the agent's own attributes, the clock, what the request says) cost no query.
DB_FIELDS = (
    "spend_month_usd",
    "spend_today_usd",
    "steps_today",
    "session_cost_usd",
    "session_step",
    "tool_actions_last_hour",
    "tool_actions_last_day",
    "on_behalf_of_is_approver",
)
# Computed only when a rule reads them: counts over the agent's recent requests, whose cost grows
# with its traffic. The rest are index lookups, computed for every request so that the decision
# records them and a backtest of a draft policy can replay them (``actions.backtest``).
ON_DEMAND_FIELDS = frozenset({"tool_actions_last_hour", "tool_actions_last_day"})


@functools.cache
def _tables() -> dict[str, str]:
    user = get_user_model()
    return {
        "counter": SpendCounter._meta.db_table,
        "action": ActionRequest._meta.db_table,
        "user": user._meta.db_table,
        "user_groups": user.groups.through._meta.db_table,
        "group": Group._meta.db_table,
    }


def _counter_sql(agent_id: int, period: str, key: str, column: str) -> tuple[str, list]:
    # Raw SQL with bound parameters: this runs on every gate request, and compiling the ORM's
    # subqueries per request cost more than the query itself (README, Performance).
    table = _tables()["counter"]
    sql = f"(SELECT {column} FROM {table} WHERE agent_id = %s AND period = %s AND key = %s LIMIT 1)"  # noqa: S608 - names from model meta
    return sql, [agent_id, period, key]


def _actions_since_sql(agent_id: int, tool_id: int, since: datetime) -> tuple[str, list]:
    sql = (
        f"(SELECT count(*) FROM {_tables()['action']} WHERE agent_id = %s AND tool_id = %s "  # noqa: S608 - names from model meta
        "AND status IN (%s, %s, %s) AND created_at > %s)"
    )
    return sql, [agent_id, tool_id, *COUNTED_STATUSES, since]


def _approver_sql(on_behalf_of: str) -> tuple[str, list]:
    t = _tables()
    sql = (
        f"EXISTS (SELECT 1 FROM {t['user']} u JOIN {t['user_groups']} ug ON ug.user_id = u.id "  # noqa: S608 - model meta
        f"JOIN {t['group']} g ON g.id = ug.group_id WHERE (u.username = %s OR UPPER(u.email) = UPPER(%s)) "
        "AND u.is_active AND g.name IN (%s, %s))"
    )
    return sql, [on_behalf_of, on_behalf_of, *APPROVER_ROLES]


# An agent id no row has: an extension's expression is compiled once with it, and the id of each
# request's agent takes its place among the bound parameters.
_AGENT_SENTINEL = -7_391_004_211
_extension_sql_cache: dict[ContextExpression, tuple[str, list]] = {}


def _extension_sql(item: ContextExpression, agent_id: int) -> tuple[str, list]:
    """An app's ORM expression as SQL and parameters for ``agent_id``, compiled once per process."""
    cached = _extension_sql_cache.get(item)
    if cached is None:
        cached = _expression_compiled(item, _AGENT_SENTINEL)
        if _AGENT_SENTINEL not in cached[1]:  # the agent id is not a bound parameter: compile per request
            return _expression_compiled(item, agent_id)
        _extension_sql_cache[item] = cached
    sql, params = cached
    return sql, [agent_id if p == _AGENT_SENTINEL else p for p in params]


def _expression_compiled(item: ContextExpression, agent_id: int) -> tuple[str, list]:
    query = Agent.objects.annotate(_ctx=item.expression(agent_id)).values("_ctx").query
    sql, params = query.get_compiler(connection.alias).compile(query.annotations["_ctx"])
    return sql, list(params)


def _extension_names() -> list[str]:
    return [item.name for item in context_expressions]


def context_db_names() -> tuple[str, ...]:
    """Every context field that costs the context query a column (the core ones and the apps')."""
    return (*DB_FIELDS, *_extension_names())


def context_base_names() -> frozenset[str]:
    """The database fields computed for every request (all but the on-demand ones)."""
    return frozenset(context_db_names()) - ON_DEMAND_FIELDS


def context_read(
    *, agent: Agent, tool_id: int, request: RequestContext, now: datetime, names: Collection[str] | None = None
) -> dict:
    """The context values for one request (``{"context.<name>": value}``, numbers as
    ``Decimal``), in at most one query. ``names``: the fields the rules read; an on-demand field
    (:data:`ON_DEMAND_FIELDS`) not named is not computed and is absent from the result (None: all
    are computed). The gate reads the same columns with its first query instead."""
    wanted = set(context_db_names()) if names is None else context_base_names() | set(names)
    columns = context_columns(agent_id=agent.pk, tool_id=tool_id, request=request, now=now, wanted=wanted)
    row = context_row_read(columns)
    return context_values(agent=agent, row=row, wanted=wanted, request=request, now=now)


def context_row_read(columns: list[tuple[str, str, list]]) -> dict:
    """The columns of :func:`context_columns` read in one query (none when there are none)."""
    if not columns:
        return {}
    sql = "SELECT " + ", ".join(column_sql for _name, column_sql, _params in columns)
    with connection.cursor() as cursor:
        cursor.execute(sql, [p for _name, _sql, params in columns for p in params])
        return dict(zip((name for name, _sql, _params in columns), cursor.fetchone(), strict=True))


def context_columns(
    *, agent_id: int, tool_id: int | None, request: RequestContext, now: datetime, wanted: Collection[str]
) -> list[tuple[str, str, list]]:
    """SQL columns (``(name, sql, bound parameters)``) for the wanted database fields, for any
    one-row SELECT: the gate adds the ones every request needs to its first query. A field known
    without the database (no session, no on-behalf-of user) has no column; ``tool_id`` is needed
    for the on-demand fields only."""
    day, month = period_keys(now)
    session = request.session_id or None
    builders = {
        "spend_month_usd": lambda: _counter_sql(agent_id, SpendPeriod.MONTH, month, "cost_usd"),
        "spend_today_usd": lambda: _counter_sql(agent_id, SpendPeriod.DAY, day, "cost_usd"),
        "steps_today": lambda: _counter_sql(agent_id, SpendPeriod.DAY, day, "steps"),
        "session_cost_usd": lambda: (
            _counter_sql(agent_id, SpendPeriod.SESSION, session, "cost_usd") if session else None
        ),
        "session_step": lambda: session and _counter_sql(agent_id, SpendPeriod.SESSION, session, "steps"),
        "tool_actions_last_hour": lambda: _actions_since_sql(agent_id, tool_id, now - timedelta(hours=1)),
        "tool_actions_last_day": lambda: _actions_since_sql(agent_id, tool_id, now - timedelta(days=1)),
        "on_behalf_of_is_approver": lambda: _approver_sql(request.on_behalf_of) if request.on_behalf_of else None,
    }
    columns = []
    for name, build in builders.items():
        built = build() if name in wanted else None
        if built is not None:
            columns.append((name, built[0], built[1]))
    for item in context_expressions:
        if item.name in wanted:
            sql, params = _extension_sql(item, agent_id)
            columns.append((item.name, sql, params))
    return columns


def context_values(*, agent: Agent, row: dict, wanted: Collection[str], request: RequestContext, now: datetime) -> dict:
    """The context values from the agent, the clock, the request and ``row`` (the database
    fields read by :func:`context_read`); database fields not in ``wanted`` are left out."""
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
    }
    read = {
        "on_behalf_of_is_approver": lambda: bool(row.get("on_behalf_of_is_approver")),  # no user: False
        "spend_today_usd": lambda: row["spend_today_usd"] or ZERO,
        "spend_month_usd": lambda: row["spend_month_usd"] or ZERO,
        "steps_today": lambda: Decimal(row["steps_today"] or 0),
        "tool_actions_last_hour": lambda: Decimal(row["tool_actions_last_hour"]),
        "tool_actions_last_day": lambda: Decimal(row["tool_actions_last_day"]),
        "session_step": lambda: Decimal((row.get("session_step") or 0) + 1) if session else None,
        "session_cost_usd": lambda: (row.get("session_cost_usd") or ZERO) if session else None,
    }
    for name, value in read.items():
        if name in wanted:
            values[name] = value()
    for name in _extension_names():
        if name in wanted:
            values[name] = bool(row[name])
        else:
            values.pop(name, None)
    return {CONTEXT_PREFIX + name: value for name, value in values.items()}


def context_compute(*, agent: Agent, tool: Tool, request: RequestContext, now: datetime) -> dict:
    """Every context value for one request (one query)."""
    return context_read(agent=agent, tool_id=tool.pk, request=request, now=now)


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
