"""Issue 18, item 7: the gate evaluates compiled rules (``actions.language.rule_predicate``); they
answer exactly as the tree interpreter (``evaluate``) does, on every kind of node, with missing
and null values."""

from __future__ import annotations

import itertools
from decimal import Decimal

from actions.language import compile_condition, evaluate, fields_parse, rule_predicate, rules_parse

FIELDS = fields_parse("amount: decimal\ntier: enum(standard, pro)\nvip: boolean optional\nnote: string optional")
RULES = rules_parse(
    "\n".join(
        [
            "deny \"a\" if amount > 50 and tier == 'pro'",
            'deny "b" if amount <= 10 or not vip',
            "deny \"c\" if tier in ['standard'] and note not in ['x', 'y']",
            'deny "d" if vip',
            'deny "e" if 5 < amount and context.spend_today_usd >= amount',
            "deny \"f\" if context.weekday != 'sun' and context.on_behalf_of == note",
            'deny "g" if not (context.active_incident or 1 == 2) and context.hour in [0, 1, 23]',
            'deny "h" if true',
            'deny "i" if false or amount != 0',
        ]
    ),
    FIELDS,
)
CHOICES = {
    "amount": [None, Decimal("5"), Decimal("10"), Decimal("50.01")],
    "tier": [None, "standard", "pro"],
    "vip": [None, True, False],
    "note": [None, "x", "z"],
    "context.spend_today_usd": [None, Decimal("10")],
    "context.weekday": ["sun", "mon"],
    "context.on_behalf_of": [None, "z"],
    "context.active_incident": [True, False],
    "context.hour": [Decimal(0), Decimal(12)],
}
MISSING = object()


def test_compiled_rules_answer_as_the_interpreter_on_every_combination():
    names = list(CHOICES)
    checked = 0
    # Parameters may also be missing (a context field is always there, None when not sent).
    options = [CHOICES[n] + ([] if n.startswith("context.") else [MISSING]) for n in names]
    for combo in itertools.product(*options):
        values = {n: v for n, v in zip(names, combo, strict=True) if v is not MISSING}
        for rule in RULES:
            assert compile_condition(rule["tree"])(values) == evaluate(rule["tree"], values), (rule["text"], values)
            checked += 1
    assert checked > 50_000


def test_the_compiled_predicate_is_kept_per_rule_text():
    rule = RULES[0]
    assert rule_predicate(rule) is rule_predicate(dict(rule))
