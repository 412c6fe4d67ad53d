from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from reports.tables import NUMERIC, format_cell, format_usd

register = template.Library()


@register.filter
def cell(value, kind: str = "text"):
    """A table cell formatted for reading (the CSV keeps the raw number)."""
    return mark_safe(format_cell(value, kind))  # noqa: S308 - format_cell escapes


@register.filter
def usd(value, places: int = 2):
    return format_usd(value, places)


@register.filter
def usd0(value):
    return usd(value, 0)


@register.filter
def is_numeric(kind: str) -> bool:
    return kind in NUMERIC
