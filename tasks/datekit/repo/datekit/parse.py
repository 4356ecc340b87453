"""Parsing of absolute and relative dates.

Supported inputs (case-insensitive, surrounding whitespace ignored):

* ISO dates ``2024-03-01``, slashed ``2024/03/01`` and dotted European
  ``01.03.2024``;
* ``today``, ``yesterday`` and ``tomorrow``;
* ``N <unit> ago`` and ``in N <unit>`` where unit is ``day``, ``week``,
  ``month`` or ``year`` (singular or plural); ``a``/``an`` may stand for 1.
"""

from __future__ import annotations

import re
from datetime import date

from .arith import add_days, add_months, add_years


class DateParseError(ValueError):
    """Raised when a string cannot be understood as a date."""


_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_AGO = re.compile(r"^(\d+|an?)\s+(day|week|month|year)s?\s+ago$")
_IN = re.compile(r"^in\s+(\d+|an?)\s+(day|week|month|year)s?$")

_KEYWORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}


def _amount(text: str) -> int:
    return 1 if text in ("a", "an") else int(text)


def shift(d: date, amount: int, unit: str) -> date:
    """Shift ``d`` by ``amount`` units (``day``, ``week``, ``month`` or ``year``)."""
    if unit == "day":
        return add_days(d, amount)
    if unit == "week":
        return add_days(d, 7 * amount)
    if unit == "month":
        return add_months(d, amount)
    if unit == "year":
        return add_years(d, amount)
    raise ValueError(f"unknown unit: {unit!r}")


def _make(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise DateParseError(f"invalid date {text!r}: {exc}") from None


def parse_date(text: str, today: date | None = None) -> date:
    """Parse ``text`` into a :class:`~datetime.date`.

    Relative phrases are resolved against ``today`` (default: the current
    date). Raises :class:`DateParseError` for anything else.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")
    base = today or date.today()
    s = " ".join(text.strip().lower().split())
    if s in _KEYWORDS:
        return add_days(base, _KEYWORDS[s])
    m = _ISO.match(s)
    if m:
        return _make(int(m[1]), int(m[2]), int(m[3]), text)
    m = _DOTTED.match(s)
    if m:
        return _make(int(m[3]), int(m[2]), int(m[1]), text)
    m = _AGO.match(s)
    if m:
        return shift(base, -_amount(m[1]), m[2])
    m = _IN.match(s)
    if m:
        return shift(base, _amount(m[1]), m[2])
    raise DateParseError(f"cannot parse date {text!r}")
