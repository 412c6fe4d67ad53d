"""Report tables: one definition renders as HTML and exports as CSV, so every table on a
report page has a CSV download that says exactly what the page says (with raw numbers)."""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.contrib.humanize.templatetags.humanize import intcomma
from django.http import HttpResponse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe


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

    @property
    def body_html(self) -> SafeString:
        """The table body, built in Python: a 100-agent table is 2,000 cells, which the
        template engine renders an order of magnitude slower."""
        if not self.rows:
            return format_html('<tr><td colspan="{}" class="text-muted">{}</td></tr>', len(self.columns), self.empty)
        numeric = [c.kind in NUMERIC for c in self.columns]
        out = []
        for row in self.rows:
            cells = []
            for col, is_num, value in zip(self.columns, numeric, row, strict=False):
                text = format_cell(value, col.kind)
                cells.append(f'<td class="text-end">{text}</td>' if is_num else f"<td>{text}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        return mark_safe("".join(out))  # noqa: S308 - every cell went through format_cell (escaped)


NUMERIC = ("usd", "pct", "int", "num")


def format_usd(value, places: int = 2) -> str:
    if value is None:
        return "—"
    value = Decimal(value)
    sign = "−" if value < 0 else ""
    return f"{sign}${abs(value):,.{places}f}"


def format_cell(value, kind: str = "text") -> str:
    """A cell for reading, HTML-escaped (the CSV keeps the raw number)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Link):
        # The escaping of django.utils.html.escape() (html.escape), without its lazy-string and
        # SafeString wrapping: this runs for some 300 cells per page.
        return f'<a href="{html.escape(value.url)}">{html.escape(value.text)}</a>'
    if kind == "usd":
        return format_usd(value)
    if kind == "pct":
        return f"{Decimal(value):.1f} %"
    if kind == "int":
        # intcomma() goes through the localization machinery; the site is en-us (no
        # LocaleMiddleware), so a plain int groups the same with the format spec.
        return f"{value:,}" if type(value) is int else str(intcomma(value))
    if kind == "date":
        return value.strftime("%Y-%m-%d")
    return str(conditional_escape(value))


# A spreadsheet reads a cell starting with one of these as a formula (tab and carriage return
# too: some importers strip them and then see the "=" behind). OWASP "CSV injection".
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """THE neutraliser of every CSV cell Quorum writes: a cell that a spreadsheet would read as a
    formula gets a leading apostrophe (shown as text, not executed). Numbers such as ``-12.50``
    stay as they are, so the export keeps its raw figures."""
    if text[:1] in FORMULA_TRIGGERS and not _is_number(text):
        return "'" + text
    return text


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")) if value.as_tuple().exponent < -2 else value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Link):
        # Link cells (agent names) are text a user chose: neutralised like every other cell.
        return spreadsheet_safe(value.text)
    if isinstance(value, list | tuple):
        return spreadsheet_safe("; ".join(map(str, value)))
    return spreadsheet_safe(str(value))


def _is_number(text: str) -> bool:
    # Decimal() accepts surrounding whitespace ("\t5"), which a spreadsheet may not treat as a number.
    if text != text.strip():
        return False
    try:
        Decimal(text)
    except Exception:  # noqa: BLE001 - anything not a number is text
        return False
    return True


def csv_response(table: Table, *, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([spreadsheet_safe(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_value(v) for v in row])
    return response
