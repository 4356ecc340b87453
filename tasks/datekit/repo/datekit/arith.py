"""Calendar arithmetic on :class:`datetime.date` values."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def days_in_month(year: int, month: int) -> int:
    """Return the number of days in ``month`` of ``year`` (leap years included)."""
    return calendar.monthrange(year, month)[1]


def month_end(d: date) -> date:
    """Return the last day of the month that contains ``d``."""
    return d.replace(day=days_in_month(d.year, d.month))


def add_days(d: date, days: int) -> date:
    """Return ``d`` shifted by ``days`` (which may be negative)."""
    return d + timedelta(days=days)


def add_months(d: date, months: int) -> date:
    """Return ``d`` shifted by a whole number of calendar months.

    ``months`` may be negative. The day of the month is kept::

        >>> add_months(date(2024, 1, 15), 1)
        datetime.date(2024, 2, 15)
    """
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    return date(year, month + 1, d.day)


def add_years(d: date, years: int) -> date:
    """Return ``d`` shifted by ``years``; 29 February becomes 28 February in non-leap years."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        # Only 29 February can fail here.
        return d.replace(year=d.year + years, day=28)


def business_days_between(start: date, end: date) -> int:
    """Count the weekdays (Monday to Friday) in the half-open range ``[start, end)``.

    The result is negative when ``end`` is before ``start``.
    """
    if end < start:
        return -business_days_between(end, start)
    total = (end - start).days
    full_weeks, rest = divmod(total, 7)
    count = full_weeks * 5
    weekday = start.weekday()
    for offset in range(rest):
        if (weekday + offset) % 7 < 5:
            count += 1
    return count
