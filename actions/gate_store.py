"""The gate's write for an action that goes ahead, in one statement (issue 22 item 3, issue 18 item 7).

An automatically allowed action costs three writes that must succeed or fail together: its charge
to the agent's budget counters (``registry.budgets``), its row, and its decision's audit entry
(``registry.audit_chain``). Made one by one inside a transaction they cost five round trips
(``BEGIN``, the charge, the insert, the chain's append, ``COMMIT``); here they are one statement,
so one round trip and atomic by itself:

    [the agent's budget lock;]   -- only for an agent with a ceiling (registry.budgets)
    WITH <the charge's CTEs, ending with charge_result>,
         gate_action AS (INSERT INTO actions_actionrequest … SELECT … FROM charge_result
                         WHERE refused IS NULL RETURNING 1),
         gate_chain AS (SELECT * FROM registry_audit_chain_append(…) WHERE EXISTS (SELECT FROM gate_action))
    SELECT charge_result.*, gate_chain.* …

A charge refused (a ceiling or the hard cap reached since the context was read) inserts no row and
appends no entry (the row and the entry hang on the charge's result), and the caller decides again
on the general path. With the lock the two statements go as one simple query, which PostgreSQL
runs as one transaction: the lock is held until the write commits. The chain's lock, taken last,
is held only for the rest of that one statement."""

from __future__ import annotations

from contextlib import nullcontext
from functools import cache

from django.db import connection, transaction

from registry.audit_chain import chain_entries_sql, chain_entries_stored
from registry.budgets import Charge, ChargeStatement, spend_charge_settled
from registry.db_prepared import prepared_row
from registry.models import AuditEntry

from .models import ActionRequest


@cache
def _insert_head() -> tuple[str, str, tuple]:
    """``(column list, value list, fields)`` of the action row's insert. Every value carries its
    column's type (text for character columns, so a value too long is an error, never truncated):
    the values are selected, not listed in ``VALUES``, and a bare literal there would be text."""
    fields = tuple(ActionRequest._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)

    def cast(field) -> str:
        if field.get_internal_type() in {"CharField", "TextField"}:
            return "text"
        return field.db_type(connection)

    values = ", ".join(f"%(action_{n})s::{cast(f)}" for n, f in enumerate(fields))
    return columns, values, fields


def _action_insert(action: ActionRequest) -> tuple[str, dict]:
    columns, values, fields = _insert_head()
    params = {f"action_{n}": f.get_db_prep_save(f.pre_save(action, True), connection) for n, f in enumerate(fields)}
    table = connection.ops.quote_name(ActionRequest._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) SELECT {values} FROM charge_result WHERE refused IS NULL RETURNING 1"  # noqa: S608
    return sql, params


def allowed_action_write(*, action: ActionRequest, entry: AuditEntry, charge: ChargeStatement) -> Charge:
    """Charge ``charge``, insert ``action`` and append ``entry`` to the audit chain, all or nothing,
    in one statement (module docstring). Returns the charge; when it was refused nothing was
    written. Raises ``IntegrityError`` (nothing written) when the action's idempotency key is
    taken. Inside a caller's transaction a savepoint keeps that error recoverable."""
    insert, insert_params = _action_insert(action)
    chain_call, chain_params = chain_entries_sql([entry], "gate_chain")
    sql = (
        f"WITH {charge.ctes}, gate_action AS ({insert}), "  # noqa: S608 (names ours, values parameters)
        f"gate_chain AS (SELECT * FROM {chain_call} WHERE EXISTS (SELECT 1 FROM gate_action)) "
        "SELECT r.refused, r.month_before, r.month_after, c.entry_id, c.entry_seq, c.entry_prev, c.entry_hash "
        "FROM charge_result r LEFT JOIN gate_chain c ON true"
    )
    # Prepared, the lock and the statement in one round trip (registry/db_prepared.py).
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        row = prepared_row(sql, {**charge.params, **insert_params, **chain_params}, lock_sql=charge.prefix)
    refused, month_before, month_after, *stored = row
    if refused is None:
        action._state.adding, action._state.db = False, connection.alias
        # Outside a transaction the statement has committed: a hash the database computed unlike
        # Python (a bug of ours, never of the data) raises here, and the chain's verifier reports it.
        chain_entries_stored([entry], [stored])
    return spend_charge_settled(charge, refused, month_before, month_after)
