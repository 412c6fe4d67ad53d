from __future__ import annotations

from decimal import Decimal

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import format_html

from reports.tables import Link

register = template.Library()


@register.filter
def cell(value, kind: str = "text"):
    """A table cell formatted for reading (the CSV keeps the raw number)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Link):
        return format_html('<a href="{}">{}</a>', value.url, value.text)
    if kind == "usd":
        return usd(value)
    if kind == "pct":
        return f"{Decimal(value):.1f} %"
    if kind == "int":
        return intcomma(value)
    if kind == "date":
        return value.strftime("%Y-%m-%d")
    return value


@register.filter
def usd(value, places: int = 2):
    if value is None:
        return "—"
    value = Decimal(value)
    sign = "−" if value < 0 else ""
    return f"{sign}${abs(value):,.{places}f}"


@register.filter
def usd0(value):
    return usd(value, 0)


@register.filter
def is_numeric(kind: str) -> bool:
    return kind in ("usd", "pct", "int", "num")


@register.filter
def zip_columns(row, columns):
    return list(zip(columns, row, strict=False))
