"""The action-policy language: declared fields, rules, and the conditions inside them.

A policy is two short texts a governance board can read aloud.

Fields (one per line)::

    amount_usd: decimal
    customer_tier: enum(standard, pro, enterprise)
    card_number: string optional

Rules (one per line, first match wins)::

    allow if amount_usd <= 50 and customer_tier in ['standard', 'pro']
    deny "Refunds above 1000 USD go through finance" if amount_usd > 1000
    require 2 approvals from "Support manager" if amount_usd > 50

A condition is comparisons (``== != < <= > >=``), ``in`` / ``not in`` a list, ``and`` / ``or`` /
``not``, parentheses, and literals (numbers, quoted strings, ``true`` / ``false``, lists), over the
declared fields only. It is parsed by the recursive-descent parser below into a small JSON tree,
type-checked against the declarations when the policy is saved (errors name the line, column and
token), and evaluated by :func:`evaluate` — never by Python's ``eval``. Numbers are ``Decimal``.
A comparison with an optional field the request left out is false.
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

FIELD_TYPES = ("decimal", "integer", "string", "boolean", "enum")
MAX_FIELDS = 50
MAX_RULES = 100
MAX_LINE = 500
MAX_STRING_PARAM = 1000
MAX_APPROVERS = 5
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
KEYWORDS = {"and", "or", "not", "in", "true", "false", "if"}


# The request's context (issue 18): facts the gate computes once per request (``actions/context.py``)
# and rules read as ``context.<name>`` beside the declared parameters. Typed like declared fields;
# ``required`` False: absent when the agent did not send it (a comparison with it is then false).
CONTEXT_PREFIX = "context."
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CONTEXT_FIELDS: dict[str, dict] = {
    "agent_tier": {"type": "integer", "required": True, "choices": [], "doc": "the agent's risk tier (1-3)"},
    "environment": {
        "type": "enum",
        "required": True,
        "choices": ["proposed", "pilot", "production", "paused", "retired"],
        "doc": "the agent's lifecycle status",
    },
    "canary": {"type": "boolean", "required": True, "choices": [], "doc": "the request runs the canary version"},
    "active_incident": {"type": "boolean", "required": True, "choices": [], "doc": "an open or mitigated incident"},
    "data_classification": {
        "type": "enum",
        "required": True,
        "choices": ["public", "internal", "confidential", "regulated"],
        "doc": "the agent's data classification",
    },
    "hour": {"type": "integer", "required": True, "choices": [], "doc": "hour of day (0-23) in the configured zone"},
    "minute_of_day": {"type": "integer", "required": True, "choices": [], "doc": "0-1439 in the configured zone"},
    "weekday": {"type": "enum", "required": True, "choices": _WEEKDAYS, "doc": "day of week in the configured zone"},
    "on_behalf_of": {"type": "string", "required": False, "choices": [], "doc": "the user the agent acts for"},
    "on_behalf_of_is_approver": {
        "type": "boolean",
        "required": True,
        "choices": [],
        "doc": "that user holds an approver role (Approver or Governance board)",
    },
    "spend_today_usd": {"type": "decimal", "required": True, "choices": [], "doc": "agent spend today (zone)"},
    "spend_month_usd": {"type": "decimal", "required": True, "choices": [], "doc": "agent spend this month (zone)"},
    "steps_today": {"type": "integer", "required": True, "choices": [], "doc": "actions charged today (zone)"},
    "tool_actions_last_hour": {"type": "integer", "required": True, "choices": [], "doc": "this tool, last hour"},
    "tool_actions_last_day": {"type": "integer", "required": True, "choices": [], "doc": "this tool, last 24 hours"},
    "session_step": {
        "type": "integer",
        "required": False,
        "choices": [],
        "doc": "this request's step number in the session (1 for the first)",
    },
    "session_cost_usd": {"type": "decimal", "required": False, "choices": [], "doc": "session spend so far"},
}


class PolicySyntaxError(ValueError):
    """A bad policy text. ``line`` and ``column`` are 1-based; ``token`` is the offending text."""

    def __init__(self, message: str, *, column: int | None = None, token: str | None = None, line: int | None = None):
        self.message = message
        self.column = column
        self.token = token
        self.line = line
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return (", ".join(where) + ": " if where else "") + self.message

    def at_line(self, line: int) -> PolicySyntaxError:
        return PolicySyntaxError(self.message, column=self.column, token=self.token, line=line)


# --- tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # NUM STR NAME OP END
    text: str
    value: Any
    col: int  # 1-based


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>-?\d+(?:\.\d+)?(?![A-Za-z_\d]))
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>context\.[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            char = text[pos]
            if char in "'\"":
                raise PolicySyntaxError("unterminated string", column=pos + 1, token=text[pos : pos + 20])
            if char == "=":
                raise PolicySyntaxError("unexpected '='; compare with '=='", column=pos + 1, token=char)
            raise PolicySyntaxError(f"unexpected character {char!r}", column=pos + 1, token=char)
        kind = m.lastgroup
        raw = m.group(0)
        if kind == "num":
            tokens.append(Token("NUM", raw, Decimal(raw), pos + 1))
        elif kind == "str":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
            tokens.append(Token("STR", raw, value, pos + 1))
        elif kind == "name":
            tokens.append(Token("NAME", raw, raw, pos + 1))
        elif kind == "op":
            tokens.append(Token("OP", raw, raw, pos + 1))
        pos = m.end()
    tokens.append(Token("END", "", None, len(text) + 1))
    return tokens


# --- condition parser (recursive descent) ----------------------------------------------------------

_CMP_OPS = {"==", "!=", "<", "<=", ">", ">="}


class _Parser:
    def __init__(self, tokens: list[Token], start: int = 0):
        self.tokens = tokens
        self.i = start

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        return self.tok.kind == "NAME" and self.tok.text == word

    def is_op(self, op: str) -> bool:
        return self.tok.kind == "OP" and self.tok.text == op

    def fail(self, message: str, tok: Token | None = None):
        tok = tok or self.tok
        shown = tok.text or "end of condition"
        raise PolicySyntaxError(f"{message} (at {shown!r})", column=tok.col, token=tok.text)

    def expect_end(self) -> None:
        if self.tok.kind != "END":
            self.fail("unexpected text after the condition")

    # expr := and ("or" and)*
    def expr(self) -> list:
        node = self.conj()
        while self.is_word("or"):
            self.take()
            node = ["or", node, self.conj()]
        return node

    def conj(self) -> list:
        node = self.negation()
        while self.is_word("and"):
            self.take()
            node = ["and", node, self.negation()]
        return node

    def negation(self) -> list:
        if self.is_word("not"):
            self.take()
            return ["not", self.negation()]
        return self.comparison()

    def comparison(self) -> list:
        left = self.operand()
        tok = self.tok
        if tok.kind == "OP" and tok.text in _CMP_OPS:
            self.take()
            return ["cmp", tok.text, left, self.operand(), tok.col]
        if self.is_word("in"):
            self.take()
            return ["in", left, self.operand(), tok.col]
        if self.is_word("not") and self.tokens[self.i + 1].kind == "NAME" and self.tokens[self.i + 1].text == "in":
            self.take()
            self.take()
            return ["nin", left, self.operand(), tok.col]
        return left

    def operand(self) -> list:
        tok = self.tok
        if tok.kind == "NUM":
            self.take()
            return ["n", str(tok.value), tok.col]
        if tok.kind == "STR":
            self.take()
            return ["s", tok.value, tok.col]
        if tok.kind == "NAME":
            if tok.text in ("true", "false"):
                self.take()
                return ["b", tok.text == "true", tok.col]
            if tok.text in KEYWORDS:
                self.fail(f"expected a field or a value, found the keyword {tok.text!r}")
            self.take()
            return ["f", tok.text, tok.col]
        if self.is_op("("):
            self.take()
            node = self.expr()
            if not self.is_op(")"):
                self.fail("expected ')'")
            self.take()
            return node
        if self.is_op("["):
            return self.list_literal()
        if tok.kind == "END":
            self.fail("the condition ends too early; expected a field or a value")
        self.fail("expected a field or a value")

    def list_literal(self) -> list:
        start = self.take()
        items = []
        while not self.is_op("]"):
            tok = self.tok
            if tok.kind not in ("NUM", "STR") and not (tok.kind == "NAME" and tok.text in ("true", "false")):
                self.fail("a list holds literal values only (numbers, quoted strings, true, false)")
            items.append(self.operand())
            if self.is_op(","):
                self.take()
            elif not self.is_op("]"):
                self.fail("expected ',' or ']' in the list")
        self.take()
        return ["l", items, start.col]


# --- type checking ------------------------------------------------------------------------------

_NUMERIC = {"decimal", "integer"}


def _kind_of(ftype: str) -> str:
    if ftype in _NUMERIC:
        return "number"
    if ftype == "enum":
        return "string"
    if ftype == "boolean":
        return "bool"
    return "string"


class _Checker:
    def __init__(self, fields: dict[str, dict]):
        self.fields = fields

    def fail(self, message: str, node: list):
        col = node[-1] if isinstance(node[-1], int) and not isinstance(node[-1], bool) else None
        raise PolicySyntaxError(message, column=col, token=_node_text(node))

    def value_type(self, node: list) -> tuple[str, dict | None]:
        tag = node[0]
        if tag == "n":
            return "number", None
        if tag == "s":
            return "string", None
        if tag == "b":
            return "bool", None
        if tag == "f":
            name = node[1]
            if name.startswith(CONTEXT_PREFIX):
                return self.context_type(node)
            if name not in self.fields:
                declared = ", ".join(sorted(self.fields)) or "none"
                self.fail(f"unknown field {name!r}; the policy declares: {declared}", node)
            spec = self.fields[name]
            return _kind_of(spec["type"]), spec
        if tag == "l":
            return "list", None
        return "bool", None  # a sub-condition

    def context_type(self, node: list) -> tuple[str, dict]:
        spec = CONTEXT_FIELDS.get(node[1][len(CONTEXT_PREFIX) :])
        if spec is None:
            known = ", ".join(CONTEXT_PREFIX + name for name in CONTEXT_FIELDS)
            self.fail(f"unknown context field {node[1]!r}; the context has: {known}", node)
        return _kind_of(spec["type"]), spec

    def condition(self, node: list) -> None:
        tag = node[0]
        if tag in ("and", "or"):
            self.condition(node[1])
            self.condition(node[2])
        elif tag == "not":
            self.condition(node[1])
        elif tag == "cmp":
            self.compare(node)
        elif tag in ("in", "nin"):
            self.membership(node)
        elif tag == "f":
            kind, spec = self.value_type(node)
            if kind != "bool":
                self.fail(
                    f"{node[1]} is a {spec['type']} field, not a condition; compare it (e.g. {node[1]} == …)", node
                )
        elif tag == "b":
            return
        else:
            self.fail("expected a condition (a comparison, 'in', 'and', 'or', 'not')", node)

    def _enum_check(self, spec: dict | None, literal: list) -> None:
        if spec and spec["type"] == "enum" and literal[0] == "s" and literal[1] not in spec["choices"]:
            self.fail(f"{literal[1]!r} is not one of the values of this field: {', '.join(spec['choices'])}", literal)

    def compare(self, node: list) -> None:
        _, op, left, right, _col = node
        lk, lspec = self.value_type(left)
        rk, rspec = self.value_type(right)
        for side, kind in ((left, lk), (right, rk)):
            if kind == "list":
                self.fail("a list can only follow 'in' or 'not in'", side)
            if side[0] not in ("n", "s", "b", "f"):
                self.fail("compare a field or a value, not a condition", side)
        if lk != rk:
            self.fail(f"cannot compare a {lk} with a {rk}", node)
        if op not in ("==", "!=") and lk != "number":
            self.fail(f"'{op}' compares numbers only; use == or != for a {lk}", node)
        self._enum_check(lspec, right)
        self._enum_check(rspec, left)

    def membership(self, node: list) -> None:
        _, left, right, _col = node
        lk, lspec = self.value_type(left)
        if lk in ("list",) or left[0] not in ("n", "s", "b", "f"):
            self.fail("the left side of 'in' must be a field or a value", left)
        if right[0] != "l":
            self.fail("'in' needs a list on its right, e.g. ['standard', 'pro']", right)
        for item in right[1]:
            ik, _ = self.value_type(item)
            if ik != lk:
                self.fail(f"the list holds a {ik} but the left side is a {lk}", item)
            self._enum_check(lspec, item)


def _node_text(node: list) -> str:
    tag = node[0]
    if tag in ("n", "f"):
        return str(node[1])
    if tag == "s":
        return repr(node[1])
    if tag == "b":
        return "true" if node[1] else "false"
    if tag == "cmp":
        return node[1]
    if tag == "nin":
        return "not in"
    return tag


def condition_parse(text: str, fields: dict[str, dict]) -> list:
    """Parse and type-check one condition; returns its tree. Raises :class:`PolicySyntaxError`."""
    tokens = tokenize(text)
    if tokens[0].kind == "END":
        raise PolicySyntaxError("the condition is empty", column=1, token="")
    parser = _Parser(tokens)
    tree = parser.expr()
    parser.expect_end()
    _Checker(fields).condition(tree)
    return tree


# --- evaluation ---------------------------------------------------------------------------------


class _Missing:
    pass


MISSING = _Missing()


@functools.lru_cache(maxsize=4096)
def _decimal(text: str) -> Decimal:
    """A number literal as Decimal, parsed once per distinct text (the gate's hot loop)."""
    return Decimal(text)


def _value(node: list, values: dict) -> Any:
    tag = node[0]
    if tag == "f":
        return values.get(node[1], MISSING)
    if tag == "n":
        return _decimal(node[1])
    if tag in ("s", "b"):
        return node[1]
    if tag == "l":
        return [_value(item, values) for item in node[1]]
    return evaluate(node, values)


_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def evaluate(tree: list, values: dict) -> bool:
    """Evaluate a checked condition tree over already-coerced field values (numbers as Decimal)."""
    tag = tree[0]
    if tag == "and":
        return evaluate(tree[1], values) and evaluate(tree[2], values)
    if tag == "or":
        return evaluate(tree[1], values) or evaluate(tree[2], values)
    if tag == "not":
        return not evaluate(tree[1], values)
    if tag == "cmp":
        a, b = _value(tree[2], values), _value(tree[3], values)
        if a is MISSING or b is MISSING or a is None or b is None:
            return False
        return _COMPARE[tree[1]](a, b)
    if tag in ("in", "nin"):
        a = _value(tree[1], values)
        if a is MISSING or a is None:
            return False
        found = a in _value(tree[2], values)
        return found if tag == "in" else not found
    if tag == "f":
        return values.get(tree[1]) is True
    if tag == "b":
        return bool(tree[1])
    raise ValueError(f"not a condition node: {tag}")


# --- compiled evaluation (the gate's hot path) --------------------------------------------------
# The same semantics as :func:`evaluate`, as nested closures built once per rule text: the tree of a
# rule is a pure function of its text, so a process keeps one compiled predicate per distinct text
# however often the policy row is read (policy versions are immutable, drafts parse to new texts).


def _getter(node: list) -> tuple[bool, Any]:
    """(is_field, field name or constant value) for an operand node."""
    tag = node[0]
    if tag == "f":
        return True, node[1]
    if tag == "n":
        return False, _decimal(node[1])
    if tag in ("s", "b"):
        return False, node[1]
    if tag == "l":
        return False, tuple(_getter(item)[1] for item in node[1])
    inner = compile_condition(node)
    return False, inner  # a sub-condition as an operand: never compared (the checker refuses it)


def _compile_cmp(tree: list) -> Any:
    op = _COMPARE[tree[1]]
    left_field, left = _getter(tree[2])
    right_field, right = _getter(tree[3])
    if left_field and not right_field:
        if right is None:
            return lambda values: False

        def field_vs_literal(values: dict) -> bool:
            a = values.get(left)
            return a is not None and op(a, right)

        return field_vs_literal
    if left_field and right_field:

        def field_vs_field(values: dict) -> bool:
            a, b = values.get(left), values.get(right)
            return a is not None and b is not None and op(a, b)

        return field_vs_field
    if right_field:

        def literal_vs_field(values: dict) -> bool:
            b = values.get(right)
            return b is not None and op(left, b)

        return literal_vs_field
    constant = op(left, right)
    return lambda values: constant


def _compile_in(tree: list) -> Any:
    negate = tree[0] == "nin"
    is_field, left = _getter(tree[1])
    _list_field, items = _getter(tree[2])
    if not is_field:
        constant = (left not in items) if negate else (left in items)
        return lambda values: constant

    def member(values: dict) -> bool:
        a = values.get(left)
        if a is None:
            return False
        return (a not in items) if negate else (a in items)

    return member


def compile_condition(tree: list) -> Any:
    """A checked condition tree as a predicate ``values -> bool`` (same answers as :func:`evaluate`)."""
    tag = tree[0]
    if tag in ("and", "or"):
        left, right = compile_condition(tree[1]), compile_condition(tree[2])
        if tag == "and":
            return lambda values: left(values) and right(values)
        return lambda values: left(values) or right(values)
    if tag == "not":
        inner = compile_condition(tree[1])
        return lambda values: not inner(values)
    if tag == "cmp":
        return _compile_cmp(tree)
    if tag in ("in", "nin"):
        return _compile_in(tree)
    if tag == "f":
        name = tree[1]
        return lambda values: values.get(name) is True
    if tag == "b":
        constant = bool(tree[1])
        return lambda values: constant
    raise ValueError(f"not a condition node: {tag}")


_COMPILED: dict[str, Any] = {}
MAX_COMPILED = 20_000


def rule_predicate(rule: dict) -> Any:
    """The compiled condition of a parsed rule, cached per rule text (bounded: past the bound the
    cache is cleared, never wrong)."""
    text = rule.get("text")
    fn = _COMPILED.get(text) if text is not None else None
    if fn is None:
        fn = compile_condition(rule["tree"])
        if text is not None:
            if len(_COMPILED) >= MAX_COMPILED:
                _COMPILED.clear()
            _COMPILED[text] = fn
    return fn


# --- fields document ----------------------------------------------------------------------------

_FIELD_LINE = re.compile(
    r"^(?P<name>[^:\s]+)\s*:\s*(?P<type>[a-z]+)\s*(?:\((?P<args>.*)\))?\s*(?P<optional>optional)?$"
)


def fields_parse(text: str) -> dict[str, dict]:
    """``name: type [optional]`` per line (``#`` starts a comment). Returns
    ``{name: {"type": ..., "required": bool, "choices": [...]}}`` in declaration order."""
    fields: dict[str, dict] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            raise PolicySyntaxError(f"lines are limited to {MAX_LINE} characters", line=number, column=MAX_LINE + 1)
        name, spec = _field_line_parse(line, number, declared=fields)
        fields[name] = spec
        if len(fields) > MAX_FIELDS:
            raise PolicySyntaxError(f"at most {MAX_FIELDS} fields", line=number)
    return fields


def _field_line_parse(line: str, number: int, *, declared: dict[str, dict]) -> tuple[str, dict]:
    """One ``name: type [optional]`` line (comment stripped) as ``(name, spec)``."""
    indent = len(line) - len(line.lstrip())
    m = _FIELD_LINE.match(line.strip())
    if m is None:
        raise PolicySyntaxError(
            "expected 'name: type', e.g. 'amount_usd: decimal' or 'tier: enum(standard, pro)'",
            line=number,
            column=indent + 1,
            token=line.strip()[:40],
        )
    name, ftype = m.group("name"), m.group("type")
    if not NAME_RE.match(name) or name in KEYWORDS:
        raise PolicySyntaxError(
            f"{name!r} is not a valid field name (lower-case letters, digits, '_'; not a keyword)",
            line=number,
            column=indent + 1,
            token=name,
        )
    if name in declared:
        raise PolicySyntaxError(f"field {name!r} is declared twice", line=number, column=indent + 1, token=name)
    type_col = indent + line.strip().index(ftype, len(name)) + 1
    if ftype not in FIELD_TYPES:
        raise PolicySyntaxError(
            f"unknown type {ftype!r}; use one of: {', '.join(FIELD_TYPES)}",
            line=number,
            column=type_col,
            token=ftype,
        )
    if ftype == "enum":
        choices = _enum_choices_parse(m.group("args"), number, type_col)
    elif m.group("args") is not None:
        raise PolicySyntaxError(f"{ftype} takes no arguments", line=number, column=type_col, token=ftype)
    else:
        choices = []
    return name, {"type": ftype, "required": not m.group("optional"), "choices": choices}


def _enum_choices_parse(args: str | None, number: int, type_col: int) -> list[str]:
    """``standard, 'pro'`` -> ``["standard", "pro"]`` (duplicates dropped, order kept)."""
    if not args or not args.strip():
        raise PolicySyntaxError(
            "an enum lists its values, e.g. enum(standard, pro)", line=number, column=type_col, token="enum"
        )
    choices: list[str] = []
    for part in args.split(","):
        value = part.strip().strip("'\"")
        if not value:
            raise PolicySyntaxError("empty enum value", line=number, column=type_col, token=args)
        if value not in choices:
            choices.append(value)
    return choices


def fields_source(fields: dict[str, dict]) -> str:
    lines = []
    for name, spec in fields.items():
        ftype = spec["type"]
        if ftype == "enum":
            ftype = f"enum({', '.join(spec['choices'])})"
        lines.append(f"{name}: {ftype}" + ("" if spec.get("required", True) else " optional"))
    return "\n".join(lines)


# --- rules document -----------------------------------------------------------------------------

OUTCOME_ALLOW = "allow"
OUTCOME_DENY = "deny"
OUTCOME_APPROVAL = "require_approval"


def _rule_parse(line: str, fields: dict[str, dict]) -> dict:
    tokens = tokenize(line)
    p = _Parser(tokens)
    head = p.tok
    rule: dict[str, Any] = {"text": line.strip()}
    if p.is_word("allow"):
        p.take()
        rule["outcome"] = OUTCOME_ALLOW
    elif p.is_word("deny"):
        p.take()
        if p.tok.kind != "STR" or not p.tok.value.strip():
            p.fail('a deny rule gives the reason the agent is shown, in quotes: deny "why" if …')
        rule["outcome"] = OUTCOME_DENY
        rule["reason"] = p.take().value.strip()
    elif p.is_word("require"):
        p.take()
        rule.update(_require_head_parse(p))
    else:
        p.fail("a rule starts with allow, deny or require", head)
    if p.tok.kind == "END":
        rule["condition"] = ""
        rule["tree"] = ["b", True, 0]
        return rule
    if not p.is_word("if"):
        p.fail("expected 'if' and a condition, or the end of the rule")
    if_tok = p.take()
    if p.tok.kind == "END":
        p.fail("'if' needs a condition")
    start_col = p.tok.col
    tree = p.expr()
    p.expect_end()
    _Checker(fields).condition(tree)
    rule["condition"] = line[start_col - 1 :].strip()
    rule["if_col"] = if_tok.col
    rule["tree"] = tree
    return rule


def _require_head_parse(p: _Parser) -> dict[str, Any]:
    """After ``require``: ``[N] approval(s) from "Role"``."""
    count = 1
    if p.tok.kind == "NUM":
        num = p.take()
        if num.value != num.value.to_integral_value() or not 1 <= num.value <= MAX_APPROVERS:
            p.fail(f"the number of approvers is a whole number from 1 to {MAX_APPROVERS}", num)
        count = int(num.value)
    if not (p.is_word("approval") or p.is_word("approvals")):
        p.fail('expected \'approvals from "Role"\', e.g. require 2 approvals from "Support manager"')
    p.take()
    if not p.is_word("from"):
        p.fail("expected 'from \"Role\"'")
    p.take()
    if p.tok.kind != "STR" or not p.tok.value.strip():
        p.fail('name the role (group) in quotes, e.g. from "Support manager"')
    role_tok = p.take()
    return {"outcome": OUTCOME_APPROVAL, "approvals": count, "role": role_tok.value.strip(), "role_col": role_tok.col}


def rules_parse(text: str, fields: dict[str, dict]) -> list[dict]:
    """One rule per line, in order (``#`` comments and blank lines are skipped). Returns
    ``[{"number", "line", "text", "outcome", "reason"?, "approvals"?, "role"?, "condition", "tree"}]``."""
    rules = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            raise PolicySyntaxError(f"lines are limited to {MAX_LINE} characters", line=number, column=MAX_LINE + 1)
        try:
            rule = _rule_parse(line, fields)
        except PolicySyntaxError as exc:
            raise exc.at_line(number) from None
        rule["number"] = len(rules) + 1
        rule["line"] = number
        rules.append(rule)
        if len(rules) > MAX_RULES:
            raise PolicySyntaxError(f"at most {MAX_RULES} rules", line=number)
    return rules


def _strip_comment(line: str) -> str:
    """Drop a ``#`` comment that is not inside a quoted string."""
    quote = None
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:index]
    return line


# --- parameters ---------------------------------------------------------------------------------


@dataclass
class FieldError:
    field: str
    code: str
    message: str


def parameters_coerce(fields: dict[str, dict], params: dict) -> tuple[dict, list[FieldError]]:
    """Check an action's parameters against the declared fields: every required field present,
    no undeclared field, each value of its type. Returns ``(values, errors)``; numbers become
    ``Decimal`` (a JSON float is read through its shortest decimal form, so 50.01 stays 50.01)."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name in params:
        if name not in fields:
            declared = ", ".join(fields) or "none"
            errors.append(
                FieldError(name, "unknown_field", f"{name}: not a field of this tool (declared: {declared}).")
            )
    for name, spec in fields.items():
        if name not in params or params[name] is None:
            if spec.get("required", True):
                errors.append(FieldError(name, "required", f"{name}: required by this tool's policy."))
            continue
        raw = params[name]
        ftype = spec["type"]
        try:
            values[name] = _coerce(ftype, raw, spec)
        except ValueError as exc:
            errors.append(FieldError(name, "invalid", f"{name}: {exc}"))
    return values, errors


def _coerce_number(ftype: str, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"expected a number, got {type(raw).__name__}.")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number.") from None
    if not value.is_finite():
        raise ValueError("expected a finite number.")
    if abs(value) >= Decimal("1e15"):
        raise ValueError("the number is too large.")
    if ftype == "integer":
        if value != value.to_integral_value():
            raise ValueError(f"expected a whole number, got {raw!r}.")
        return Decimal(int(value))
    return value


def _coerce(ftype: str, raw: Any, spec: dict) -> Any:
    if ftype in ("decimal", "integer"):
        return _coerce_number(ftype, raw)
    if ftype == "boolean":
        if not isinstance(raw, bool):
            raise ValueError("expected true or false.")
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {type(raw).__name__}.")
    if len(raw) > MAX_STRING_PARAM:
        raise ValueError(f"at most {MAX_STRING_PARAM} characters.")
    if ftype == "enum" and raw not in spec["choices"]:
        raise ValueError(f"{raw!r} is not one of: {', '.join(spec['choices'])}.")
    return raw


_CONTEXT_NAMES: dict[str, frozenset[str]] = {}


def _tree_context_names(node, names: set[str]) -> None:
    if not isinstance(node, list) or not node:
        return
    if node[0] == "f" and isinstance(node[1], str) and node[1].startswith(CONTEXT_PREFIX):
        names.add(node[1][len(CONTEXT_PREFIX) :])
        return
    for part in node[1:]:
        _tree_context_names(part, names)


def rules_context_names(rules: list[dict]) -> frozenset[str]:
    """The ``context.<name>`` fields (names without the prefix) the rules' conditions read: the
    gate computes only these (and what the budget and a shadow need). Cached per rule text like
    :func:`rule_predicate` (bounded the same way)."""
    names: set[str] = set()
    for rule in rules:
        text = rule.get("text")
        found = _CONTEXT_NAMES.get(text) if text is not None else None
        if found is None:
            collected: set[str] = set()
            _tree_context_names(rule.get("tree"), collected)
            found = frozenset(collected)
            if text is not None:
                if len(_CONTEXT_NAMES) >= MAX_COMPILED:
                    _CONTEXT_NAMES.clear()
                _CONTEXT_NAMES[text] = found
        names |= found
    return frozenset(names)
