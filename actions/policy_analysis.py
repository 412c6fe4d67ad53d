"""Static analysis of an action policy at save (issue 18): what a type checker cannot see.

Pure: works on the parsed rules of :mod:`actions.language` (``rules_parse`` keeps each rule's
line and the column of its ``if``), never on the database. The one check that needs history,
rules that never fired in the last 30 days, takes the fired rule texts as an argument
(``actions.selectors.rule_texts_fired_since`` reads them).

How: every condition is turned into a union of *boxes* (disjunctive normal form), a box giving
each field it constrains a set of values — numbers as unions of intervals, strings and enum
values as finite sets or their complements, booleans as a subset of {true, false} — and whether
a missing (optional) field is in it. ``not`` is pushed down with De Morgan; a comparison with a
missing optional field is false, as in :func:`actions.language.evaluate`. On boxes the checks
are set algebra:

* **never true** (error): the condition's union is empty (``amount > 100 and amount < 50``);
* **unreachable** (error): what is left of a rule after taking away every earlier rule's union is
  empty — first match wins, so the rule never decides; **contradictory** (error) when one earlier
  rule has the very same condition and the opposite outcome;
* **allows every amount** (warning): an ``allow`` rule that, after the earlier rules, still lets
  through values of a money field without an upper bound;
* **enum value not covered** (warning): a value of an enum field that rules test, which no
  rule can match — it falls to the tier default, usually by oversight;
* **never fired** (warning): a rule of the version in force that decided nothing in 30 days.

Errors make a rule meaningless; the policy-change request refuses them. Warnings are shown on
save and on the request. Conditions the algebra does not model (a field compared with another
field) are left out of the checks, never guessed at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from .language import CONTEXT_FIELDS, CONTEXT_PREFIX, OUTCOME_ALLOW, fields_parse, rules_parse

ERROR = "error"
WARNING = "warning"
MAX_BOXES = 256
# A decimal or integer field is money when its name says so (amount_usd, price, total_cost, …).
MONEY_WORDS = ("amount", "usd", "eur", "gbp", "price", "cost", "total", "fee", "spend", "payment", "money")


@dataclass(frozen=True)
class Finding:
    """One defect: ``where`` is ``rules`` or ``fields`` (which text ``line`` and ``column`` count in)."""

    severity: str
    code: str
    message: str
    line: int
    column: int
    where: str = "rules"
    rule: int | None = None

    def describe(self) -> str:
        text = "Rules" if self.where == "rules" else "Fields"
        return f"{text}, line {self.line}, column {self.column}: {self.message}"


class _Opaque(Exception):
    """A condition the algebra does not model; its rule is left out of the checks."""


# --- value sets ---------------------------------------------------------------------------------
# Numbers: a tuple of disjoint intervals (lo, lo_closed, hi, hi_closed), None for an infinite end.
# Strings and booleans: (positive, frozenset) — "one of" or "anything but".


def _iv_empty(iv) -> bool:
    lo, lc, hi, hc = iv
    return lo is not None and hi is not None and (lo > hi or (lo == hi and not (lc and hc)))


def _iv_int(iv):
    """An interval of whole numbers with closed whole bounds (so ``x > 1 and x < 2`` is empty)."""
    lo, lc, hi, hc = iv
    if lo is not None:
        lo = Decimal(math.floor(lo) + 1) if (not lc and lo == lo.to_integral_value()) else Decimal(math.ceil(lo))
        lc = True
    if hi is not None:
        hi = Decimal(math.ceil(hi) - 1) if (not hc and hi == hi.to_integral_value()) else Decimal(math.floor(hi))
        hc = True
    return lo, lc, hi, hc


def _num_norm(ivs, integer: bool) -> tuple:
    out = [(_iv_int(iv) if integer else iv) for iv in ivs]
    return tuple(sorted((iv for iv in out if not _iv_empty(iv)), key=_lo_key))


def _lo_key(iv):
    lo, lc, _hi, _hc = iv
    return (Decimal("-Infinity") if lo is None else lo, not lc)


def _num_and(a: tuple, b: tuple, integer: bool) -> tuple:
    out = []
    for alo, alc, ahi, ahc in a:
        for blo, blc, bhi, bhc in b:
            if alo is None or (blo is not None and blo > alo):
                lo, lc = blo, blc
            elif blo is None or alo > blo:
                lo, lc = alo, alc
            else:
                lo, lc = alo, alc and blc
            if ahi is None or (bhi is not None and bhi < ahi):
                hi, hc = bhi, bhc
            elif bhi is None or ahi < bhi:
                hi, hc = ahi, ahc
            else:
                hi, hc = ahi, ahc and bhc
            out.append((lo, lc, hi, hc))
    return _num_norm(out, integer)


def _num_not(a: tuple, integer: bool) -> tuple:
    out = []
    lo, lc = None, False
    for ilo, ilc, ihi, ihc in a:
        if ilo is not None:
            out.append((lo, lc, ilo, not ilc))
        if ihi is None:
            return _num_norm(out, integer)
        lo, lc = ihi, not ihc
    out.append((lo, lc, None, False))
    return _num_norm(out, integer)


def _set_and(a, b):
    (ap, aset), (bp, bset) = a, b
    if ap and bp:
        return True, aset & bset
    if ap:
        return True, aset - bset
    if bp:
        return True, bset - aset
    return False, aset | bset


def _set_not(a):
    return (not a[0], a[1])


@dataclass(frozen=True)
class _FieldSet:
    kind: str  # num, int, set
    values: tuple
    missing: bool

    def is_empty(self) -> bool:
        if self.missing:
            return False
        if self.kind == "set":
            return self.values[0] and not self.values[1]
        return not self.values

    def meet(self, other: _FieldSet) -> _FieldSet:
        if self.kind == "set":
            values = _set_and(self.values, other.values)
        else:
            values = _num_and(self.values, other.values, self.kind == "int")
        return _FieldSet(self.kind, values, self.missing and other.missing)

    def complement(self, required: bool) -> _FieldSet:
        values = _set_not(self.values) if self.kind == "set" else _num_not(self.values, self.kind == "int")
        return _FieldSet(self.kind, values, not self.missing and not required)

    def unbounded_above(self) -> bool:
        return self.kind != "set" and bool(self.values) and self.values[-1][2] is None

    def admits(self, value) -> bool:
        positive, items = self.values
        return (value in items) == positive


class _Algebra:
    """Conditions of one policy's fields as unions of boxes (``dict[field, _FieldSet]``)."""

    def __init__(self, fields: dict[str, dict]):
        self.fields = fields

    def universe(self, name: str) -> _FieldSet:
        spec = self.fields[name]
        missing = not spec.get("required", True)
        if spec["type"] in ("decimal", "integer"):
            kind = "int" if spec["type"] == "integer" else "num"
            return _FieldSet(kind, ((None, False, None, False),), missing)
        if spec["type"] == "enum":
            return _FieldSet("set", (True, frozenset(spec["choices"])), missing)
        if spec["type"] == "boolean":
            return _FieldSet("set", (True, frozenset({True, False})), missing)
        return _FieldSet("set", (False, frozenset()), missing)

    def atom(self, name: str, op: str, value) -> list[dict]:
        if name not in self.fields:
            raise _Opaque(name)
        uni = self.universe(name)
        if uni.kind == "set":
            values = self._set_values(op, value)
        else:
            values = _num_norm(self._intervals(op, value), uni.kind == "int")
        box_set = _FieldSet(uni.kind, values, False).meet(uni)
        return [] if box_set.is_empty() else [{name: box_set}]

    @staticmethod
    def _set_values(op: str, value):
        if op == "in":
            return True, frozenset(value)
        if op == "nin":
            return False, frozenset(value)
        if op == "==":
            return True, frozenset([value])
        if op == "!=":
            return False, frozenset([value])
        raise _Opaque(op)

    @staticmethod
    def _intervals(op: str, v) -> list:
        if op in ("in", "nin"):
            points = [(x, True, x, True) for x in v]
            return points if op == "in" else list(_num_not(_num_norm(points, False), False))
        return {
            "==": [(v, True, v, True)],
            "!=": [(None, False, v, False), (v, False, None, False)],
            "<": [(None, False, v, False)],
            "<=": [(None, False, v, True)],
            ">": [(v, False, None, False)],
            ">=": [(v, True, None, False)],
        }[op]

    def comp(self, name: str, fs: _FieldSet) -> _FieldSet:
        """Every value of the field (and its absence, if optional) that ``fs`` leaves out."""
        return fs.complement(self.fields[name].get("required", True)).meet(self.universe(name))

    def meet(self, a: dict, b: dict) -> dict | None:
        out = dict(a)
        for name, fs in b.items():
            out[name] = out[name].meet(fs) if name in out else fs
            if out[name].is_empty():
                return None
        return out

    def conj(self, left: list[dict], right: list[dict]) -> list[dict]:
        out = [box for a in left for b in right if (box := self.meet(a, b)) is not None]
        if len(out) > MAX_BOXES:
            raise _Opaque("too many cases")
        return out

    def negate(self, boxes: list[dict]) -> list[dict]:
        result: list[dict] = [{}]
        for box in boxes:
            pieces = [{name: comp} for name, fs in box.items() if not (comp := self.comp(name, fs)).is_empty()]
            result = self.conj(result, pieces)
        return result

    def subtract(self, boxes: list[dict], cut: dict) -> list[dict]:
        """``boxes`` minus one box: the standard split, one piece per field the cut constrains."""
        out = []
        for box in boxes:
            rest: dict | None = box
            for name, fs in cut.items():
                if rest is None:
                    break
                own = rest.get(name, self.universe(name))
                outside = own.meet(self.comp(name, fs))
                if not outside.is_empty():
                    out.append({**rest, name: outside})
                inside = own.meet(fs)
                rest = None if inside.is_empty() else {**rest, name: inside}
        if len(out) > MAX_BOXES:
            raise _Opaque("too many cases")
        return out

    def boxes(self, tree: list) -> list[dict]:
        tag = tree[0]
        if tag == "and":
            return self.conj(self.boxes(tree[1]), self.boxes(tree[2]))
        if tag == "or":
            out = self.boxes(tree[1]) + self.boxes(tree[2])
            if len(out) > MAX_BOXES:
                raise _Opaque("too many cases")
            return out
        if tag == "not":
            return self.negate(self.boxes(tree[1]))
        if tag == "b":
            return [{}] if tree[1] else []
        if tag == "f":
            return self.atom(tree[1], "==", True)
        if tag == "cmp":
            return self._compare(tree)
        if tag in ("in", "nin") and tree[1][0] == "f" and tree[2][0] == "l":
            return self.atom(tree[1][1], tag, [_literal(item) for item in tree[2][1]])
        raise _Opaque(tag)

    def _compare(self, tree: list) -> list[dict]:
        _, op, left, right, _col = tree
        if left[0] == "f" and right[0] in ("n", "s", "b"):
            return self.atom(left[1], op, _literal(right))
        if right[0] == "f" and left[0] in ("n", "s", "b"):
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            return self.atom(right[1], flipped, _literal(left))
        raise _Opaque("a field compared with a field")


def _literal(node: list):
    return Decimal(node[1]) if node[0] == "n" else node[1]


def _condition_column(rule: dict) -> int:
    """Where the condition starts (just after ``if``), or 1 for an unconditional rule."""
    if_col = rule.get("if_col")
    return if_col + 3 if if_col else 1


def _decision(rule: dict) -> tuple:
    return (rule["outcome"], rule.get("approvals"), rule.get("role"), rule.get("reason"))


def _fields_lines(fields_source: str) -> dict[str, int]:
    lines = {}
    for number, raw in enumerate((fields_source or "").splitlines(), start=1):
        name = raw.split("#", 1)[0].split(":", 1)[0].strip()
        if name and name not in lines:
            lines[name] = number
    return lines


def _is_money(name: str, spec: dict) -> bool:
    return spec["type"] in ("decimal", "integer") and any(word in name for word in MONEY_WORDS)


# --- the checks -----------------------------------------------------------------------------------


def policy_analyse(
    *,
    fields: dict[str, dict],
    rules: list[dict],
    fields_source: str = "",
    fired_texts: set[str] | None = None,
    live_texts: set[str] | None = None,
) -> list[Finding]:
    """Every finding for parsed ``rules`` over ``fields``, in line order. ``fired_texts``: the
    texts of the rules that decided a request in the last 30 days (None: not checked);
    ``live_texts``: the rule texts of the version in force (only those can have fired)."""
    # The request's context (``context.<name>``) is typed like the fields: modelled the same way.
    algebra = _Algebra({**fields, **{CONTEXT_PREFIX + name: spec for name, spec in CONTEXT_FIELDS.items()}})
    findings: list[Finding] = []
    earlier: list[tuple[dict, list[dict]]] = []  # (rule, its boxes) for the modelled earlier rules
    modelled: list[tuple[dict, list[dict]]] = []
    for rule in rules:
        try:
            boxes = algebra.boxes(rule["tree"])
        except _Opaque:
            earlier = [(None, None)]  # an unmodelled earlier rule: later coverage cannot be judged
            continue
        modelled.append((rule, boxes))
        finding = _reach_finding(algebra, rule, boxes, earlier)
        if finding is not None:
            findings.append(finding)
        elif rule["outcome"] == OUTCOME_ALLOW:
            findings.extend(_money_findings(algebra, fields, rule, boxes, earlier))
        earlier.append((rule, boxes))
    findings.extend(_enum_findings(fields, modelled, rules, _fields_lines(fields_source)))
    if fired_texts is not None:
        for rule in rules:
            if (live_texts is None or rule["text"] in live_texts) and rule["text"] not in fired_texts:
                findings.append(
                    Finding(
                        WARNING,
                        "never_fired",
                        "decided no request in the last 30 days.",
                        rule["line"],
                        1,
                        rule=rule["number"],
                    )
                )
    return sorted(findings, key=lambda f: (f.where != "fields", f.line, f.column))


def _reach_finding(algebra: _Algebra, rule: dict, boxes: list[dict], earlier: list) -> Finding | None:
    line, col, number = rule["line"], _condition_column(rule), rule["number"]
    if not boxes:
        return Finding(
            ERROR, "never_true", "the condition can never be true, so the rule never applies.", line, col, rule=number
        )
    if any(prior is None for prior, _ in earlier):
        return None
    rest = boxes
    covering = []
    for prior, prior_boxes in earlier:
        before = rest
        for cut in prior_boxes:
            rest = algebra.subtract(rest, cut)
        if rest != before:
            covering.append(prior)
        if not rest:
            break
    if rest:
        return None
    if len(covering) == 1 and _decision(covering[0]) != _decision(rule) and _same(algebra, boxes, earlier, covering[0]):
        message = (
            f"contradicts rule {covering[0]['number']} (line {covering[0]['line']}): same condition, another "
            f"outcome; rule {covering[0]['number']} always wins."
        )
        return Finding(ERROR, "contradictory", message, line, col, rule=number)
    names = ", ".join(str(r["number"]) for r in covering)
    message = f"unreachable: every request it matches is decided first by rule {names}."
    return Finding(ERROR, "unreachable", message, line, col, rule=number)


def _same(algebra: _Algebra, boxes: list[dict], earlier: list, prior: dict) -> bool:
    prior_boxes = next(b for r, b in earlier if r is prior)
    rest = prior_boxes
    for cut in boxes:
        rest = algebra.subtract(rest, cut)
    return not rest


def _money_findings(algebra: _Algebra, fields: dict, rule: dict, boxes: list[dict], earlier: list) -> list[Finding]:
    """Money fields are the declared parameters' (the context's spend is the agent's, not the action's)."""
    if any(prior is None for prior, _ in earlier):
        return []
    rest = boxes
    for _prior, prior_boxes in earlier:
        for cut in prior_boxes:
            rest = algebra.subtract(rest, cut)
    findings = []
    for name, spec in fields.items():
        if not _is_money(name, spec):
            continue
        if any(box.get(name, algebra.universe(name)).unbounded_above() for box in rest):
            message = f"allows every value of the money field {name}: no upper bound on what it lets through."
            findings.append(
                Finding(
                    WARNING, "allows_any_amount", message, rule["line"], _condition_column(rule), rule=rule["number"]
                )
            )
    return findings


def _tested_fields(tree: list, out: set[str]) -> set[str]:
    if tree and tree[0] == "f":
        out.add(tree[1])
    for part in tree[1:]:
        if isinstance(part, list):
            _tested_fields(part, out)
    return out


def _enum_findings(fields: dict, modelled: list, rules: list[dict], lines: dict[str, int]) -> list[Finding]:
    tested: set[str] = set()
    for rule in rules:
        _tested_fields(rule["tree"], tested)
    findings = []
    for name, spec in fields.items():
        if spec["type"] != "enum" or name not in tested or len(modelled) < len(rules):
            continue
        for choice in spec["choices"]:
            if not any(box.get(name) is None or box[name].admits(choice) for _r, boxes in modelled for box in boxes):
                message = f"no rule covers {name} = {choice!r}: such requests fall to the tier default."
                findings.append(Finding(WARNING, "enum_uncovered", message, lines.get(name, 1), 1, where="fields"))
    return findings


def policy_text_analyse(
    *, fields_source: str, rules_source: str, fired_texts: set[str] | None = None, live_texts: set[str] | None = None
) -> list[Finding]:
    """:func:`policy_analyse` over the two texts (already valid: ``policy_validate`` passed)."""
    fields = fields_parse(fields_source)
    return policy_analyse(
        fields=fields,
        rules=rules_parse(rules_source, fields),
        fields_source=fields_source,
        fired_texts=fired_texts,
        live_texts=live_texts,
    )
