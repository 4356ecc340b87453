from datetime import date

import pytest

from datekit import DateParseError, parse_date

TODAY = date(2024, 3, 1)


def _id(value):
    """Readable test ids without spaces (``3_days_ago``)."""
    return "_".join(value.split()) or "empty" if isinstance(value, str) else None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-03-01", date(2024, 3, 1)),
        ("2024/3/1", date(2024, 3, 1)),
        ("01.03.2024", date(2024, 3, 1)),
        ("  2024-12-31 ", date(2024, 12, 31)),
    ],
    ids=_id,
)
def test_absolute(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("today", TODAY),
        ("Yesterday", date(2024, 2, 29)),
        ("tomorrow", date(2024, 3, 2)),
        ("3 days ago", date(2024, 2, 27)),
        ("in 2 weeks", date(2024, 3, 15)),
        ("a week ago", date(2024, 2, 23)),
        ("in 1 month", date(2024, 4, 1)),
        ("2 years ago", date(2022, 3, 1)),
        ("in  an   year", date(2025, 3, 1)),
    ],
    ids=_id,
)
def test_relative(text, expected):
    assert parse_date(text, today=TODAY) == expected


@pytest.mark.parametrize("text", ["", "soon", "2024-13-01", "2023-02-29", "32.01.2024", "in -3 days"], ids=_id)
def test_invalid(text):
    with pytest.raises(DateParseError):
        parse_date(text, today=TODAY)


def test_rejects_non_strings():
    with pytest.raises(TypeError):
        parse_date(date(2024, 1, 1))
