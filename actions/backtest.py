"""Backtest ("what if", issue 18 item 2): replay a tool's recorded action requests of a period
against a draft policy and say how many decisions would change, from what to what, by rule.

The rules, and why:

* **Parameters as stored.** A request is replayed on the parameters the gate stored. Fields the
  policy redacted before storage (their value is ``[redacted]``) are excluded — to the draft they
  are missing, so a comparison with them is false — and the result counts them per field and
  names the draft rules that read one (their answer on those requests is not the real one).
  Requests whose parameters the retention purge dropped are not replayed, and counted.
* **Context as recorded.** A draft rule reading a field the parameters do not hold is fed from
  the context the gate recorded with the decision (``decision_snapshot["context"]``, when the
  gate records one); a request without it counts against that rule as "context lacking".
* **Only the policy's part moves.** The kill switch, the grant (its constraints and rates) and a
  budget cap's action override the rules and no policy edit changes them: those requests stay as decided, counted
  apart. Everything else is compared on what the gate decided at the time (a request people
  later approved was *pending* at the gate) against :func:`actions.services.policy_outcome` on
  the draft — the gate's own evaluator, pure.
* **Fast.** One query: a server-side cursor streams the period in chunks; identical parameter
  tuples (the same JSON text) are evaluated once. Goal: 1,000,000 requests in ≤ 60 s
  (``bench/policy_backtest.py``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from registry.models import Tool
from telemetry.redaction import REDACTED

from .choices import ActionStatus, DecisionSource
from .context import context_from_snapshot
from .language import parameters_coerce
from .models import ActionPolicyVersion
from .services import Outcome, policy_outcome

CHUNK = 10_000
MAX_EXAMPLES = 3
MAX_CACHE = 500_000  # distinct parameter tuples kept evaluated (bounded memory on huge periods)
GATE_SOURCES = {DecisionSource.KILL_SWITCH, DecisionSource.BUDGET}
# A pending request later decided by people or by expiry was "pending" when the gate decided.
LATER_SOURCES = {DecisionSource.PEOPLE, DecisionSource.EXPIRY}

SQL = """
SELECT id::text, agent_id, parameters::text, parameters_purged_at IS NOT NULL, status, source, rule_number,
       rule_text, required_approvals, approver_role, decision_snapshot -> 'outcome' ->> 'status',
       decision_snapshot -> 'outcome' ->> 'source', (decision_snapshot -> 'context')::text, policy_version_id
FROM actions_actionrequest
WHERE tool_id = %s AND created_at >= %s AND created_at < %s
"""


@dataclass
class Change:
    """One kind of changed decision: from what (recorded) to what (draft), by which rules."""

    before: str
    after: str
    before_rule: str
    after_rule: str
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class BacktestResult:
    tool: str
    start: datetime
    end: datetime
    total: int = 0
    replayed: int = 0
    unchanged: int = 0
    changed: int = 0
    gate_decided: int = 0  # kill switch or grant: no policy changes these
    purged: int = 0  # parameters dropped by retention: not replayed
    refused: int = 0  # parameters the draft's fields refuse (a new required field, a type)
    refused_examples: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # most frequent first
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)
    redacted_fields: dict[str, int] = field(default_factory=dict)  # field -> requests it was redacted in
    redacted_rules: list[int] = field(default_factory=list)  # draft rules reading a redacted field
    context_lacking: dict[int, int] = field(default_factory=dict)  # draft rule -> requests without its context
    seconds: float = 0.0


def _words(status: str, approvals, roles: str) -> str:
    if status == ActionStatus.ALLOWED:
        return "allow"
    if status == ActionStatus.DENIED:
        return "deny"
    return f"{approvals} approval(s) from {roles}"


def _outcome_words(outcome: Outcome) -> tuple[str, str]:
    rule = f"rule {outcome.rule_number}: {outcome.rule_text}" if outcome.rule else "tier default"
    return _words(outcome.status, outcome.required_approvals, ", ".join(outcome.roles)), rule


def _recorded(status, source, rule_number, rule_text, approvals, roles, snap_status, snap_source):
    """(decision words, rule label) of what the gate decided, or None when the gate decided
    before the rules (kill switch, grant constraints and rates)."""
    if snap_status:
        status, source = snap_status, snap_source
    elif source in LATER_SOURCES:
        status, source = (
            ActionStatus.PENDING,
            DecisionSource.POLICY_RULE if rule_number else DecisionSource.TIER_DEFAULT,
        )
    if source in GATE_SOURCES or (source == DecisionSource.POLICY_RULE and rule_number is None):
        return None
    rule = f"rule {rule_number}: {rule_text}" if rule_number else "tier default"
    return _words(status, approvals, roles), rule


def _fields_read(tree: list, out: set[str]) -> set[str]:
    if tree and tree[0] == "f":
        out.add(tree[1])
    for part in tree[1:]:
        if isinstance(part, list):
            _fields_read(part, out)
    return out


class _Replayer:
    """Evaluates stored parameters under the draft, once per distinct parameter text."""

    def __init__(self, tool: Tool, fields: dict[str, dict], rules: list[dict]):
        self.tool, self.fields, self.rules = tool, fields, rules
        self.reads = {rule["number"]: _fields_read(rule["tree"], set()) for rule in rules}
        self.context_fields = {name for names in self.reads.values() for name in names if name not in fields}
        read = {name for names in self.reads.values() for name in names if name in fields}
        self.read_fields = {name: fields[name] for name in sorted(read)}
        # Requests recorded under a version declaring the draft's very fields passed these fields'
        # checks at the gate: only the fields the draft reads decide, so the replay evaluates once
        # per distinct tuple of those (an order id unique per request does not defeat the cache).
        self.same_fields = set(
            ActionPolicyVersion.objects.filter(tool=tool, fields=fields).values_list("pk", flat=True)
        )
        self.cache: dict[tuple[str, str | None], tuple] = {}
        self.redacted: Counter = Counter()
        self.lacking: Counter = Counter()

    def decide(self, params_text: str, context_text: str | None, version_id) -> tuple | None:
        """(words, rule label, redacted names, lacking rule numbers) or None when the draft's
        fields refuse the parameters."""
        context_key = context_text if self.context_fields else None
        if version_id in self.same_fields:
            params = json.loads(params_text)
            redacted = tuple(name for name, value in params.items() if value == REDACTED)
            key = (tuple(params.get(name) for name in self.read_fields), redacted, context_key)
            fields = self.read_fields
        else:
            key, params, fields = (params_text, context_key), None, self.fields
        hit = self.cache.get(key)
        if hit is not None or key in self.cache:
            return hit
        if params is None:
            params = json.loads(params_text)
            redacted = tuple(name for name, value in params.items() if value == REDACTED)
        else:
            params = {name: params[name] for name in fields if name in params}
        for name in redacted:
            params.pop(name, None)
        values, errors = parameters_coerce(fields, params)
        if any(e.code != "required" or e.field not in redacted for e in errors):
            answer = None
        else:
            lacking = self._context(values, context_text)
            words, rule = _outcome_words(policy_outcome(tool=self.tool, rules=self.rules, values=values))
            answer = (words, rule, redacted, lacking)
        if len(self.cache) < MAX_CACHE:
            self.cache[key] = answer
        return answer

    def _context(self, values: dict, context_text: str | None) -> tuple[int, ...]:
        if not self.context_fields:
            return ()
        # As the gate recorded it, typed back (numbers are stored as exact strings).
        context = context_from_snapshot({"context": json.loads(context_text)}) if context_text else {}
        for name in self.context_fields:
            if name in context:
                values[name] = context[name]
        return tuple(
            n for n, names in self.reads.items() if any(x in self.context_fields and x not in values for x in names)
        )


def policy_backtest(
    *, tool: Tool, fields: dict[str, dict], rules: list[dict], start: datetime, end: datetime, example_agents=None
) -> BacktestResult:
    """Replay ``tool``'s requests created in ``[start, end)`` against the draft ``fields`` and
    ``rules`` (parsed and checked: ``policy_validate``). ``example_agents``: the agent ids whose
    requests may be shown as examples (None: any) — counts cover every request."""
    began = time.perf_counter()
    result = BacktestResult(tool=tool.name, start=start, end=end)
    replayer = _Replayer(tool, fields, rules)
    recorded_cache: dict[tuple, tuple | None] = {}
    changes: dict[tuple, Change] = {}
    # A server-side cursor needs a transaction; the replay only reads.
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(SQL, [tool.pk, start, end])
        while rows := cursor.fetchmany(CHUNK):
            for row in rows:
                _replay_row(row, result, replayer, recorded_cache, changes, example_agents)
    result.changes = sorted(changes.values(), key=lambda c: (-c.count, c.before_rule, c.after_rule))
    transitions: Counter = Counter()
    for change in result.changes:
        transitions[(change.before, change.after)] += change.count
    result.transitions = dict(transitions.most_common())
    result.redacted_fields = dict(replayer.redacted)
    redacted_names = set(replayer.redacted)
    result.redacted_rules = [n for n, names in replayer.reads.items() if names & redacted_names]
    result.context_lacking = dict(sorted(replayer.lacking.items()))
    result.seconds = time.perf_counter() - began
    return result


def _replay_row(row, result: BacktestResult, replayer: _Replayer, recorded_cache, changes, example_agents) -> None:
    action_id, agent_id, params_text, purged = row[0], row[1], row[2], row[3]
    result.total += 1
    key = row[4:12]
    recorded = recorded_cache.get(key)
    if recorded is None and key not in recorded_cache:
        recorded = recorded_cache[key] = _recorded(*key)
    if recorded is None:
        result.gate_decided += 1
        return
    if purged:
        result.purged += 1
        return
    answer = replayer.decide(params_text, row[12], row[13])
    if answer is None:
        result.refused += 1
        if len(result.refused_examples) < MAX_EXAMPLES and (example_agents is None or agent_id in example_agents):
            result.refused_examples.append(action_id)
        return
    result.replayed += 1
    words, rule, redacted, lacking = answer
    for name in redacted:
        replayer.redacted[name] += 1
    for number in lacking:
        replayer.lacking[number] += 1
    if words == recorded[0]:
        result.unchanged += 1
        return
    result.changed += 1
    change_key = (recorded[0], words, recorded[1], rule)
    change = changes.get(change_key)
    if change is None:
        change = changes[change_key] = Change(recorded[0], words, recorded[1], rule)
    change.count += 1
    if len(change.examples) < MAX_EXAMPLES and (example_agents is None or agent_id in example_agents):
        change.examples.append(action_id)
