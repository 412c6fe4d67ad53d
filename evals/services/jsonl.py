"""JSONL import and export of golden-set cases: all lines or none."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from ..choices import Scorer
from ..models import (
    GoldenCase,
    GoldenSetVersion,
)
from .golden_sets import MAX_CASES_PER_VERSION, _lock_editable_version, case_validate

MAX_IMPORT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class JsonlImportError(Exception):
    """The file was rejected; nothing was imported. ``errors`` name the offending lines."""

    def __init__(self, errors: list[LineError]):
        super().__init__("; ".join(map(str, errors[:20])))
        self.errors = errors


def _decode(text: str | bytes) -> str:
    if not isinstance(text, bytes):
        return text
    if len(text) > MAX_IMPORT_BYTES:
        raise JsonlImportError([LineError(0, f"The file is larger than {MAX_IMPORT_BYTES // 1024 // 1024} MiB.")])
    try:
        return text.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JsonlImportError([LineError(0, "The file is not UTF-8 text.")]) from None


def _parse_line(number: int, raw: str) -> dict:
    """One line as a validated case; ValueError with the reason when it is not one."""
    try:
        item = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno}).") from None
    if not isinstance(item, dict):
        raise ValueError("each line must be a JSON object.")
    unknown = set(item) - {"key", "input", "scorer", "expected", "options"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}.")
    missing = [f for f in ("input", "expected") if f not in item]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}.")
    key = item.get("key", f"line-{number}")
    if not isinstance(key, str):
        raise ValueError("key must be a string.")
    case = {
        "key": key,
        "input": item["input"],
        "scorer": item.get("scorer", Scorer.EXACT),
        "expected": item["expected"],
        "options": item.get("options", {}),
    }
    try:
        case_validate(**case)
    except ValidationError as exc:
        raise ValueError(" ".join(m for ms in exc.message_dict.values() for m in ms)) from None
    return case


def cases_parse_jsonl(text: str | bytes) -> list[dict]:
    """Parse and validate a JSONL golden set, one case per line:
    ``{"key": "refund-1", "input": {...}, "scorer": "exact", "expected": ..., "options": {...}}``.
    Every line is checked before anything is accepted; blank lines are skipped."""
    errors: list[LineError] = []
    cases: list[dict] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(_decode(text).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            case = _parse_line(number, raw)
        except ValueError as exc:
            errors.append(LineError(number, str(exc)))
            continue
        if case["key"] in seen:
            errors.append(LineError(number, f"duplicate key {case['key']!r} (first on line {seen[case['key']]})."))
            continue
        seen[case["key"]] = number
        cases.append(case)
    if len(cases) > MAX_CASES_PER_VERSION:
        errors.append(LineError(0, f"At most {MAX_CASES_PER_VERSION} cases per version."))
    if not errors and not cases:
        errors.append(LineError(0, "The file holds no cases."))
    if errors:
        raise JsonlImportError(errors)
    return cases


@transaction.atomic
def cases_import_jsonl(*, set_version_id: int, text: str | bytes, replace: bool = False) -> int:
    """Import a JSONL file into an editable version: all lines or none. With ``replace``
    the version's cases are replaced; otherwise keys already present are an error."""
    cases = cases_parse_jsonl(text)
    version = _lock_editable_version(set_version_id)
    if replace:
        version.cases.all().delete()
    else:
        existing = set(version.cases.values_list("key", flat=True))
        clashes = [c["key"] for c in cases if c["key"] in existing]
        if clashes:
            raise JsonlImportError([LineError(0, f"keys already in this version: {', '.join(clashes[:10])}.")])
        if len(existing) + len(cases) > MAX_CASES_PER_VERSION:
            raise JsonlImportError([LineError(0, f"A version holds at most {MAX_CASES_PER_VERSION} cases.")])
    start = (version.cases.aggregate(m=Max("position"))["m"] or 0) + 1
    for offset, case in enumerate(cases):
        GoldenCase.objects.create(set_version=version, position=start + offset, **case)
    return len(cases)


def cases_export_jsonl(*, set_version: GoldenSetVersion) -> str:
    """The version's cases as JSONL, in the import format (export → import round-trips)."""
    lines = [
        json.dumps(
            {"key": c.key, "input": c.input, "scorer": c.scorer, "expected": c.expected, "options": c.options},
            ensure_ascii=False,
            sort_keys=True,
        )
        for c in set_version.cases.order_by("position", "key")
    ]
    return "\n".join(lines) + ("\n" if lines else "")
