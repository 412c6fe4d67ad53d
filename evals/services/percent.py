"""Percentages as the eval pages and gates show them (two decimals, half up)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def pct(numerator: int, denominator: int) -> Decimal:
    if denominator == 0:
        return Decimal("0.00")
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
