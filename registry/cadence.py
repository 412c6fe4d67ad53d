"""Calendar arithmetic for review cadences."""

import calendar
from datetime import date


def add_months(base: date, months: int) -> date:
    """``base`` plus ``months`` calendar months, clamped to the month's last day
    (30 Nov + 3 months = 28/29 Feb), so a review never slides into the next month."""
    month_index = base.month - 1 + months
    year = base.year + month_index // 12
    month = month_index % 12 + 1
    day = min(base.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)
