"""Render the distance between two dates as short English text."""

from __future__ import annotations

from datetime import date


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def humanize(d: date, today: date | None = None) -> str:
    """Describe ``d`` relative to ``today`` (default: the current date).

    >>> humanize(date(2024, 3, 4), today=date(2024, 3, 1))
    'in 3 days'
    >>> humanize(date(2023, 12, 1), today=date(2024, 3, 1))
    '3 months ago'
    """
    base = today or date.today()
    delta = (d - base).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == -1:
        return "yesterday"
    days = abs(delta)
    if days < 7:
        text = _plural(days, "day")
    elif days < 30:
        text = _plural(days // 7, "week")
    elif days < 365:
        text = _plural(days // 30, "month")
    else:
        text = _plural(days // 365, "year")
    return f"in {text}" if delta > 0 else f"{text} ago"
