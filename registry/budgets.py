"""Budgets that act (issue 18, item 5): per-agent spend counters and the hard monthly cap.

Rules:

* Spend is counted per agent in three kinds of period: the month and the day in the configured
  zone (``ACTIONS_CONTEXT_TIME_ZONE``) and the session the agent names. Run summaries add their
  ``cost_usd`` (month and day); every action the gate lets through (allowed or sent to people)
  adds its ``cost_usd`` and one step (month, day and its session).
* Every increment is one atomic ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on the counter
  row: web nodes racing each other serialise on that row, none loses an increment.
* The hard cap: an action is charged only while the month's spend *before* it is under the cap
  (the ``WHERE`` of the upsert, evaluated on the row as last committed). So at most one request
  crosses the cap: the overspend is at most one request's cost. Every later request finds the
  cap reached and gets the configured :class:`~registry.choices.BudgetAction`.
* The ceilings (per session: steps and cost; per day: cost and steps) are enforced by the charge
  too, exactly: an action is charged only while its session's steps and cost and its day's cost
  and steps *before* it are under their ceilings (reached means spend >= ceiling, as for the cap).
  Checking four rows at once cannot ride on one row's ``ON CONFLICT … WHERE``, so an agent with a
  ceiling has its charges serialised by a transaction-level advisory lock per agent, and the charge
  (one statement, so a fresh snapshot taken after the lock) reads the committed counters, decides,
  and writes all rows or none. Concurrent requests of one session cannot take the 21st step of a
  20-step session, nor go past a day's ceiling by more than the one request that crossed it.
* Lock order: every writer locks an agent's month row before its day and session rows (the charge
  writes them in that order; run summaries write all months of a batch, then its days), so a
  charge and a run ingest never deadlock.
* The soft cap (``monthly_budget_usd``) alerts once, from the one increment that crosses it.
* The action at the hard cap is applied once per agent and month: the :class:`BudgetBreach` row
  (unique per agent and month) is inserted by exactly one request, which announces the automatic
  change, pulls the kill switch when so configured (with an incident, through
  :data:`hard_cap_kill_switch_hooks`) and alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .channels import Alert, notify
from .choices import BudgetAction, SpendPeriod
from .extensions import ExtensionPoint, automatic_change_announce
from .models import Agent, BudgetBreach, SpendCounter

ZERO = Decimal("0")
MAX_SESSION_ID = 100

# Called (inside the transaction, after the switch is pulled) to open or link the incident that a
# kill switch pulled by a hard cap comes with: incidents registers it (it sits above the registry).
HardCapKillSwitchHook = Callable[[Agent, str], None]
hard_cap_kill_switch_hooks: ExtensionPoint[HardCapKillSwitchHook] = ExtensionPoint("hard-cap kill switch")


def budget_zone() -> ZoneInfo:
    return ZoneInfo(settings.ACTIONS_CONTEXT_TIME_ZONE)


def period_keys(now: datetime) -> tuple[str, str]:
    """The day and month keys of ``now`` in the budget zone: ``("2026-11-30", "2026-11")``."""
    local = now.astimezone(budget_zone())
    # Formatted by hand: two strftime calls were two thirds of this function, which run ingest
    # pays per run (1,000 runs: 4.7 ms before, 1.7 ms now).
    day = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    return day, day[:7]


# Why a charge was refused (``Charge.refused``): a ceiling, or the hard monthly cap.
REFUSED_SESSION_STEPS = "session_steps"
REFUSED_SESSION_COST = "session_cost"
REFUSED_DAY_COST = "day_cost"
REFUSED_DAY_STEPS = "day_steps"
REFUSED_HARD_CAP = "hard_cap"

# Any key of ours for pg_advisory_xact_lock(key, agent_id): one charge of an agent with a ceiling
# at a time (see the module docstring).
BUDGET_AGENT_LOCK = 0x42554447  # "BUDG"


@dataclass(frozen=True)
class Charge:
    """What one action's charge did: ``charged`` False means nothing was added, because the hard
    cap (``refused == REFUSED_HARD_CAP``) or a ceiling (``refused`` names it) was already reached.
    ``month_usd`` is the month's spend after the charge (before, if refused)."""

    charged: bool
    month_usd: Decimal
    refused: str | None = None


_TABLE = SpendCounter._meta.db_table

# The charge is a list of CTEs ending with ``charge_result(refused, month_before, month_after)``:
# ``spend_charge`` selects that row; the gate adds its own writes after it in the same statement
# (``ChargeStatement``).
#
# Without a ceiling: the month row is charged only while under the cap; the day and session rows
# only if the month row was (the CTE reads the month's RETURNING). Concurrent charges of one agent
# serialise on the month row's lock, and ON CONFLICT re-evaluates the WHERE on the newest version.
# Refused: the month's spend is not read here (``month_before`` NULL; ``spend_charge_settled``).
_CHARGE_CTES = f"""
m AS (
    INSERT INTO {_TABLE} AS c (agent_id, period, key, cost_usd, steps, updated_at)
    VALUES (%(agent)s, 'month', %(month)s, %(cost)s, %(steps)s, %(now)s)
    ON CONFLICT (agent_id, period, key) DO UPDATE
        SET cost_usd = c.cost_usd + EXCLUDED.cost_usd, steps = c.steps + EXCLUDED.steps,
            updated_at = EXCLUDED.updated_at
        WHERE %(cap)s::numeric IS NULL OR c.cost_usd < %(cap)s::numeric
    RETURNING c.cost_usd
), o AS (
    INSERT INTO {_TABLE} AS c (agent_id, period, key, cost_usd, steps, updated_at)
    SELECT %(agent)s, v.period, v.key, %(cost)s, %(steps)s, %(now)s
    FROM (VALUES ('day', %(day)s), ('session', %(session)s)) AS v(period, key)
    WHERE v.key IS NOT NULL AND EXISTS (SELECT 1 FROM m)
    ON CONFLICT (agent_id, period, key) DO UPDATE
        SET cost_usd = c.cost_usd + EXCLUDED.cost_usd, steps = c.steps + EXCLUDED.steps,
            updated_at = EXCLUDED.updated_at
), charge_result AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM m) THEN NULL ELSE '{REFUSED_HARD_CAP}' END AS refused,
        NULL::numeric AS month_before, (SELECT cost_usd FROM m) AS month_after
)
"""  # noqa: S608 (the table name and the refusal code are ours; every value is a parameter)

# The charge of an agent with a ceiling, run under the agent's advisory lock: one statement reads
# the committed month, day and session rows (absent = 0), decides which ceiling or cap refuses it
# (in the order of ``actions.budgets.ceiling_refusal``), and charges all three rows or none.
_CHARGE_CEILINGS_CTES = f"""
counters AS (
    SELECT
        coalesce(max(c.cost_usd) FILTER (WHERE c.period = 'month'), 0) AS month_cost,
        coalesce(max(c.cost_usd) FILTER (WHERE c.period = 'day'), 0) AS day_cost,
        coalesce(max(c.steps) FILTER (WHERE c.period = 'day'), 0) AS day_steps,
        coalesce(max(c.cost_usd) FILTER (WHERE c.period = 'session'), 0) AS session_cost,
        coalesce(max(c.steps) FILTER (WHERE c.period = 'session'), 0) AS session_steps
    FROM {_TABLE} c
    WHERE c.agent_id = %(agent)s
      AND (c.period, c.key) IN (('month', %(month)s), ('day', %(day)s), ('session', %(session)s))
), verdict AS (
    SELECT month_cost, CASE
        WHEN %(session)s IS NOT NULL AND session_steps >= %(session_steps)s::bigint THEN '{REFUSED_SESSION_STEPS}'
        WHEN %(session)s IS NOT NULL AND session_cost >= %(session_cost)s::numeric THEN '{REFUSED_SESSION_COST}'
        WHEN day_cost >= %(day_cost)s::numeric THEN '{REFUSED_DAY_COST}'
        WHEN day_steps >= %(day_steps)s::bigint THEN '{REFUSED_DAY_STEPS}'
        WHEN month_cost >= %(cap)s::numeric THEN '{REFUSED_HARD_CAP}'
    END AS refused
    FROM counters
), charged AS (
    INSERT INTO {_TABLE} AS c (agent_id, period, key, cost_usd, steps, updated_at)
    SELECT %(agent)s, v.period, v.key, %(cost)s, %(steps)s, %(now)s
    FROM (VALUES (1, 'month', %(month)s), (2, 'day', %(day)s), (3, 'session', %(session)s)) AS v(n, period, key)
    CROSS JOIN verdict
    WHERE v.key IS NOT NULL AND verdict.refused IS NULL
    ORDER BY v.n
    ON CONFLICT (agent_id, period, key) DO UPDATE
        SET cost_usd = c.cost_usd + EXCLUDED.cost_usd, steps = c.steps + EXCLUDED.steps,
            updated_at = EXCLUDED.updated_at
    RETURNING c.period, c.cost_usd
), charge_result AS (
    SELECT verdict.refused, verdict.month_cost AS month_before,
        (SELECT cost_usd FROM charged WHERE period = 'month') AS month_after
    FROM verdict
)
"""  # noqa: S608 (the table name and the refusal codes are ours; every value is a parameter)


_LOCK_SQL = "SELECT pg_advisory_xact_lock(%(lock)s::int, %(agent)s::int);"


def _ceiling(value):
    """A ceiling as the charge's SQL takes it: None for 0 (none), so its comparison is NULL (false)."""
    return value or None


@dataclass(frozen=True)
class ChargeStatement:
    """One action's charge as SQL, for a caller that adds its own writes to the same statement
    (the gate inserts the action and its audit entry only if the charge went through):
    ``prefix`` (the agent's lock, or nothing) must run first in the same transaction, then one
    statement ``WITH <ctes>, <the caller's CTEs> SELECT …`` that reads ``charge_result(refused,
    month_before, month_after)``; ``spend_charge_settled`` turns that row into a :class:`Charge`."""

    agent: Agent
    cost_usd: Decimal
    month: str
    prefix: str
    ctes: str
    params: dict


def spend_charge_statement(
    *,
    agent: Agent,
    cost_usd: Decimal,
    session_id: str | None,
    now: datetime,
    steps: int = 1,
    enforce_hard_cap: bool = True,
    enforce_ceilings: bool = True,
) -> ChargeStatement:
    """The charge :func:`spend_charge` makes, not yet run (same rules, same arguments)."""
    day, month = period_keys(now)
    cap = agent.budget_hard_cap_usd if enforce_hard_cap and agent.budget_hard_cap_usd > 0 else None
    params = {
        "agent": agent.pk,
        "month": month,
        "day": day,
        "session": session_id or None,
        "cost": cost_usd,
        "steps": steps,
        "now": now,
        "cap": cap,
    }
    if not (enforce_ceilings and has_ceilings(agent)):
        return ChargeStatement(agent, cost_usd, month, "", _CHARGE_CTES, params)
    # The race: twenty requests of one session with 19 of its 20 steps taken each read 19 and
    # each take the 20th. Under the agent's lock, each charge's statement starts after the
    # previous charge committed, so it reads 20 and is refused. The lock and the charge are two
    # statements: in READ COMMITTED each statement takes its own snapshot, so the charge's is
    # taken after the lock is granted.
    params |= {
        "lock": BUDGET_AGENT_LOCK,
        "session_steps": _ceiling(agent.budget_session_steps),
        "session_cost": _ceiling(agent.budget_session_cost_usd),
        "day_cost": _ceiling(agent.budget_day_cost_usd),
        "day_steps": _ceiling(agent.budget_day_steps),
    }
    return ChargeStatement(agent, cost_usd, month, _LOCK_SQL, _CHARGE_CEILINGS_CTES, params)


def spend_charge_settled(statement: ChargeStatement, refused: str | None, month_before, month_after) -> Charge:
    """The :class:`Charge` a statement's ``charge_result`` row says; a charge that crossed the soft
    cap alerts (once: only one increment crosses it)."""
    if refused is not None:
        before = month_before if month_before is not None else _month_spend(statement.agent, statement.month)
        return Charge(False, before, refused)
    _soft_cap_check(statement.agent, before=month_after - statement.cost_usd, after=month_after, month=statement.month)
    return Charge(True, month_after)


def spend_charge(**arguments) -> Charge:
    """Add one action's cost and step to the agent's month, day and session: all or nothing, and
    nothing once the month's spend has reached the hard cap or (``enforce_ceilings``) the session's
    or the day's spend or steps have reached a ceiling of the agent (see the module docstring).
    The arguments are :func:`spend_charge_statement`'s. One round trip. A crossing of the soft cap
    alerts (once: only one increment crosses it)."""
    statement = spend_charge_statement(**arguments)
    sql = f"{statement.prefix}WITH {statement.ctes} SELECT refused, month_before, month_after FROM charge_result"  # noqa: S608
    # With the lock, the transaction keeps it until the charge is committed (atomic, without a
    # savepoint inside the gate's own transaction).
    with transaction.atomic(savepoint=False) if statement.prefix else nullcontext(), connection.cursor() as cursor:
        cursor.execute(sql, statement.params)
        if statement.prefix:
            cursor.nextset()
        row = cursor.fetchone()
    return spend_charge_settled(statement, *row)


def _month_spend(agent: Agent, month: str) -> Decimal:
    value = (
        SpendCounter.objects.filter(agent=agent, period=SpendPeriod.MONTH, key=month)
        .values_list("cost_usd", flat=True)
        .first()
    )
    return value if value is not None else ZERO


def spend_add_runs(*, agent: Agent, costs: list[tuple[datetime, Decimal]]) -> None:
    """Add the cost of newly stored runs (``(started_at, cost_usd)`` each) to the agent's month and
    day counters: one upsert for all its periods, never refused (the run already happened). A
    crossing of the soft cap alerts."""
    totals = spend_runs_totals(costs)
    if not totals:
        return
    now = timezone.now()
    # One order, months before days (the charge's order too): no deadlock with a charge or a batch.
    # One multi-row upsert, one round trip (PostgreSQL processes the VALUES rows in this order).
    ordered = sorted(totals.items(), key=lambda item: (item[0][0] != SpendPeriod.MONTH, item[0]))
    rows = ", ".join(["(%s, %s, %s, %s, 0, %s)"] * len(ordered))
    params = [value for (period, key), cost in ordered for value in (agent.pk, period, key, cost, now)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_TABLE} AS c (agent_id, period, key, cost_usd, steps, updated_at) VALUES {rows} "  # noqa: S608
            "ON CONFLICT (agent_id, period, key) DO UPDATE "
            "SET cost_usd = c.cost_usd + EXCLUDED.cost_usd, updated_at = EXCLUDED.updated_at "
            "RETURNING c.period, c.key, c.cost_usd",
            params,
        )
        returned = cursor.fetchall()
    spend_runs_alert(agent, totals, returned)


def spend_runs_totals(costs: list[tuple[datetime, Decimal]]) -> dict[tuple[str, str], Decimal]:
    """What ``costs`` (``(started_at, cost_usd)`` of stored runs) add per ``(period, key)``: each
    run to the month and the day of its start in the budget zone; runs costing nothing add nothing."""
    return spend_runs_totals_by_period((*period_keys(started_at), cost) for started_at, cost in costs if cost)


def spend_runs_totals_by_period(costs: Iterable[tuple[str, str, Decimal]]) -> dict[tuple[str, str], Decimal]:
    """``spend_runs_totals`` for a caller that already has each run's day and month keys
    (``period_keys`` of its start): ``(day, month, cost_usd)`` each; runs costing nothing add nothing."""
    totals: dict[tuple[str, str], Decimal] = {}
    for day, month, cost in costs:
        if not cost:
            continue
        totals[(SpendPeriod.MONTH, month)] = totals.get((SpendPeriod.MONTH, month), ZERO) + cost
        totals[(SpendPeriod.DAY, day)] = totals.get((SpendPeriod.DAY, day), ZERO) + cost
    return totals


# The run-spend upsert of ``spend_add_runs`` as the body of a CTE, for a caller that stores runs and
# adds their spend in one statement (telemetry's ingest: one round trip, one commit). It reads the
# relation ``spend_in(period, key, cost)`` the caller's statement defines (one row per period, cost
# above zero) and the parameters ``%(agent)s`` and ``%(spend_now)s``; the same rules as
# ``spend_add_runs``: months before days, never refused. Hand the returned rows to
# ``spend_runs_alert``.
SPEND_RUNS_UPSERT_CTE = f"""
    INSERT INTO {_TABLE} AS c (agent_id, period, key, cost_usd, steps, updated_at)
    SELECT %(agent)s, s.period, s.key, s.cost, 0, %(spend_now)s FROM spend_in s
    ORDER BY s.period <> 'month', s.period, s.key
    ON CONFLICT (agent_id, period, key) DO UPDATE
        SET cost_usd = c.cost_usd + EXCLUDED.cost_usd, updated_at = EXCLUDED.updated_at
    RETURNING c.period, c.key, c.cost_usd
"""  # noqa: S608 (the table name is ours; every value is a parameter)


def spend_runs_alert(
    agent: Agent, totals: dict[tuple[str, str], Decimal], returned: list[tuple[str, str, Decimal]]
) -> None:
    """After a run-spend upsert: ``returned`` holds its ``(period, key, cost_usd after)`` rows and
    ``totals`` what it added; a month that crossed the soft cap alerts."""
    for period, key, after in returned:
        if period == SpendPeriod.MONTH:
            _soft_cap_check(agent, before=after - totals[(period, key)], after=after, month=key)


def _soft_cap_check(agent: Agent, *, before: Decimal, after: Decimal, month: str) -> None:
    """The soft cap alerts from the one increment that crosses it (the upsert serialises them)."""
    soft = agent.monthly_budget_usd
    if not soft or not (before < soft <= after):
        return
    alert = Alert(
        kind="budget",
        dedup_key=f"budget-soft:{agent.pk}:{month}",
        title=f"{agent.name} reached its monthly budget ({soft} USD) in {month}",
        body=f"Spend this month: {after:.2f} USD. Hard cap: {agent.budget_hard_cap_usd or 'none'}.",
        agent=agent,
        recipients=tuple(e for e in (agent.owner.email,) if e),
    )
    transaction.on_commit(lambda: notify(alert))


def hard_cap_reached(*, agent: Agent, spend_usd: Decimal, now: datetime) -> BudgetBreach | None:
    """Record that ``agent`` reached its hard cap this month and apply the configured action, once:
    returns the new breach for the one caller that recorded it, None for everyone after. Must run
    inside the caller's transaction (the kill switch and the breach commit together)."""
    _day, month = period_keys(now)
    with connection.cursor() as cursor:
        # Twenty requests past the cap at once: one insert wins, the rest see the conflict.
        cursor.execute(
            f"INSERT INTO {BudgetBreach._meta.db_table} (agent_id, month, action, hard_cap_usd, spend_usd, reached_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (agent_id, month) DO NOTHING RETURNING id",
            [agent.pk, month, agent.budget_hard_cap_action, agent.budget_hard_cap_usd, spend_usd, now],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    breach = BudgetBreach.objects.get(pk=row[0])
    reason = (
        f"{agent.slug} reached its hard monthly cap of {agent.budget_hard_cap_usd} USD in {month} "
        f"(spend {spend_usd:.2f} USD): {breach.get_action_display().lower()}"
    )
    if agent.budget_hard_cap_action == BudgetAction.KILL_SWITCH:
        from .services import agent_controls_update

        # The race: twenty requests at the cap, one pulling the switch while the others store their
        # rows. A stored action takes a key-share lock on its agent (the foreign key's check, at the
        # end of the statement that also appended its audit entry, so after the chain's lock); a
        # FOR UPDATE lock on the agent waits for that key-share and blocks it, and with the chain's
        # lock on the other side the two deadlocked (CI, stop 28). Every lock on an agent row is
        # FOR NO KEY UPDATE (no_key=True): it still excludes every other change to the agent, and
        # it never blocks a row that only references the agent.
        with transaction.atomic():
            locked = Agent.objects.select_for_update(no_key=True).filter(pk=agent.pk)
            enabled = locked.values_list("side_effects_enabled", flat=True).first()
            automatic_change_announce(agent=agent, kind="budget_action", reason=reason)
            if enabled:
                agent_controls_update(agent_id=agent.pk, actor=None, reason=reason, side_effects_enabled=False)
            for hook in hard_cap_kill_switch_hooks:
                hook(agent, reason)
    alert = Alert(
        kind="budget",
        dedup_key=f"budget-hard:{agent.pk}:{month}",
        title=f"{agent.name} reached its hard monthly cap",
        body=reason,
        severity="critical",
        agent=agent,
        recipients=tuple(e for e in (agent.owner.email,) if e),
    )
    transaction.on_commit(lambda: notify(alert))
    return breach


def budget_state(
    *, agent: Agent, month_usd: Decimal, now: datetime, day_usd: Decimal = ZERO, day_steps: int = 0
) -> dict:
    """The budget as the agent and people see it (controls API, agent card): caps, spend this month,
    whether the hard cap is reached with the action the gate applies, the ceilings, and whether
    today's spend (``day_usd``) or steps (``day_steps``) reached a daily ceiling (the gate then
    denies every action until the day turns), so the agent can degrade."""
    hard = agent.budget_hard_cap_usd
    reached = bool(hard) and month_usd >= hard
    day_cost_reached = bool(agent.budget_day_cost_usd) and day_usd >= agent.budget_day_cost_usd
    day_steps_reached = bool(agent.budget_day_steps) and day_steps >= agent.budget_day_steps
    return {
        "month": period_keys(now)[1],
        "spend_month_usd": str(month_usd.quantize(Decimal("0.01"))),
        "soft_cap_usd": str(agent.monthly_budget_usd) if agent.monthly_budget_usd else None,
        "hard_cap_usd": str(hard) if hard else None,
        "hard_cap_reached": reached,
        "hard_cap_action": agent.budget_hard_cap_action if hard else None,
        "day_cost_ceiling_usd": str(agent.budget_day_cost_usd) if agent.budget_day_cost_usd else None,
        "day_step_ceiling": agent.budget_day_steps or None,
        "day_ceiling_reached": day_cost_reached or day_steps_reached,
        "day_cost_ceiling_reached": day_cost_reached,
        "day_step_ceiling_reached": day_steps_reached,
        "session_cost_ceiling_usd": str(agent.budget_session_cost_usd) if agent.budget_session_cost_usd else None,
        "session_step_ceiling": agent.budget_session_steps or None,
    }


def budget_day_spend(*, agent: Agent, now: datetime | None = None) -> tuple[Decimal, int]:
    """Today's spend and steps of ``agent`` (the budget zone's day of ``now``)."""
    day = period_keys(now or timezone.now())[0]
    row = SpendCounter.objects.filter(agent=agent, period=SpendPeriod.DAY, key=day).values_list("cost_usd", "steps")
    return row.first() or (ZERO, 0)


def budget_month_spend(*, agent: Agent, now: datetime | None = None) -> Decimal:
    return _month_spend(agent, period_keys(now or timezone.now())[1])


def has_ceilings(agent: Agent) -> bool:
    """Whether ``agent`` has a per-day or per-session ceiling (its charges then take its lock)."""
    day = agent.budget_day_cost_usd or agent.budget_day_steps
    return bool(day or agent.budget_session_cost_usd or agent.budget_session_steps)


def has_caps(agent: Agent) -> bool:
    """Whether any cap or ceiling of ``agent`` makes the gate's charge decide something."""
    return bool(agent.budget_hard_cap_usd) or has_ceilings(agent)
