"""Redaction of run metadata before it is stored.

Two rules, applied recursively: a key on the deny list (``settings.TELEMETRY_REDACT_KEYS``,
compared case- and punctuation-insensitively) has its value replaced, and any string or
number that looks like a payment card number (13–19 digits passing the Luhn check, with
optional spaces or dashes) is masked to its last four digits, wherever it appears."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings

REDACTED = "[redacted]"
_CARD_CANDIDATE = re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])")
_NORMALISE = re.compile(r"[^a-z0-9]")


@functools.lru_cache(maxsize=4096)
def _norm(key: str) -> str:
    # Cached: the same few attribute names recur in every span of every export (OTLP ingest
    # normalised each key of each span, a regex substitution apiece); bounded for hostile keys.
    return _NORMALISE.sub("", key.lower())


def deny_list() -> frozenset[str]:
    return frozenset(_norm(k) for k in settings.TELEMETRY_REDACT_KEYS)


def redact_with_keys(value, extra_keys: Iterable[str] = ()):
    """A redacted copy of ``value`` under the deny list plus ``extra_keys`` (for example the
    fields an action policy names), compared the same case- and punctuation-insensitive way."""
    return redact(value, deny_list() | {_norm(str(key)) for key in extra_keys})


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_match(match: re.Match) -> str:
    raw = match.group(0)
    digits = raw.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return "*" * (len(digits) - 4) + digits[-4:]
    return raw


def mask_card_numbers(text: str) -> str:
    if len(text) < 13:
        return text
    return _CARD_CANDIDATE.sub(_mask_match, text)


def redact(value, denied: Iterable[str] | None = None):
    """A redacted copy of ``value`` (the input is not modified)."""
    return _redact(value, deny_list() if denied is None else denied)


def _redact(value, denied):
    # Hot path (every attribute of every span): exact-type checks for the common JSON types
    # first, the isinstance checks below for anything else (subclasses, Decimal, big ints).
    kind = type(value)
    if kind is str:
        return value if len(value) < 13 else _CARD_CANDIDATE.sub(_mask_match, value)
    if kind is dict:
        return redact_dict(value, denied)
    if kind is bool or kind is float or value is None:
        return value
    if kind is int:
        return value if value < 10**12 else _big_int(value)
    if kind is list:
        return [_redact(item, denied) for item in value]
    if isinstance(value, dict):
        return {key: (REDACTED if _norm(str(key)) in denied else _redact(item, denied)) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, denied) for item in value]
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, Decimal):
        # JSON bodies are parsed with exact decimals; metadata stores plain JSON numbers.
        as_float = float(value)
        return as_float if math.isfinite(as_float) else str(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**12:
        return _big_int(value)
    return value


def redact_dict(value: dict, denied) -> dict:
    """A redacted copy of the dict ``value`` under ``denied`` (:func:`deny_list`): what
    :func:`redact` does for a dict, without its dispatch (callers with many dicts)."""
    # The commonest case (a span's attributes, a JSON object): short plain strings are kept as
    # they are without a call apiece; anything else goes through _redact. Same rules.
    out = {}
    for key, item in value.items():
        if _norm(key if type(key) is str else str(key)) in denied:
            out[key] = REDACTED
        elif type(item) is str:
            out[key] = item if len(item) < 13 else _CARD_CANDIDATE.sub(_mask_match, item)
        else:
            out[key] = _redact(item, denied)
    return out


def _big_int(value: int):
    masked = mask_card_numbers(str(value))
    return masked if masked != str(value) else value
