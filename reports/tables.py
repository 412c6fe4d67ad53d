"""Report tables: one definition renders as HTML and exports as CSV, so every table on a
report page has a CSV download that says exactly what the page says (with raw numbers)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.http import HttpResponse


@dataclass(frozen=True)
class Link:
    text: str
    url: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = "text"  # text | int | usd | pct | num | date


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    empty: str = "Nothing to show for this period."
    note: str = ""


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Link):
        return value.text
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")) if value.as_tuple().exponent < -2 else value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "; ".join(map(str, value))
    text = str(value)
    # Spreadsheet formula injection: a cell starting with = + - @ would be executed by Excel.
    if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except Exception:  # noqa: BLE001 - anything not a number is text
        return False
    return True


def csv_response(table: Table, *, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([c.label for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_value(v) for v in row])
    return response
