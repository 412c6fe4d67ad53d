"""``{{ value|in_words }}``: stored values (payloads, grant constraints, diffs, audit history)
shown as words, not as Python or JSON.

People read ``max_per_hour: 20; channels: email, chat``, ``none``, ``yes`` and ``no`` where the
raw value would print ``{'max_per_hour': 20}``, ``None`` or ``True``. Keys stay as they are: they
are the names policies and constraints are written with (``amount_usd <= 50``). django-auditlog keeps the
old and new values of a change as their ``str()``, so a string that is exactly a Python or JSON
literal (a dict, a list, ``None``, ``True``/``False``, ``null``) is read back and rendered too;
any other string is shown as it is."""

from __future__ import annotations

import ast
import json
from decimal import Decimal

from django import template

register = template.Library()

NOTHING = "none"
# Strings that are the repr of a value rather than text someone wrote.
_LITERAL_WORDS = {"None": None, "null": None, "True": True, "False": False, "true": True, "false": False}
# Deeper nesting is shown in one line anyway; this only bounds the recursion on hostile input.
MAX_DEPTH = 4


def _parse_literal(text: str):
    """The value a repr/JSON string stands for, or the string itself when it is plain text."""
    stripped = text.strip()
    if stripped in _LITERAL_WORDS:
        return _LITERAL_WORDS[stripped]
    if not stripped or stripped[0] not in "[{(" or stripped[-1] not in "]})":
        return text
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(stripped)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict | list | tuple):
            return value
    return text


def words(value, depth: int = 0) -> str:
    """Render one value as readable text (see the module docstring)."""
    if isinstance(value, str):
        parsed = _parse_literal(value) if depth == 0 else value
        if parsed is not value and not isinstance(parsed, str):
            return words(parsed, depth)
        return value if value.strip() else NOTHING
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        if not value:
            return NOTHING
        parts = [f"{k}: {words(v, depth + 1)}" for k, v in value.items()]
        text = "; ".join(parts)
        return f"({text})" if depth else text
    if isinstance(value, list | tuple | set | frozenset):
        items = [words(v, depth + 1) for v in value]
        return ", ".join(items) if items else NOTHING
    return str(value)


@register.filter(name="in_words")
def in_words(value) -> str:
    return words(value)
