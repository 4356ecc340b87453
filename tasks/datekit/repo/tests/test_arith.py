from datetime import date

import pytest

from datekit import add_days, add_months, add_years, business_days_between, days_in_month, month_end


@pytest.mark.parametrize(
    "year, month, expected",
    [(2024, 1, 31), (2024, 2, 29), (2023, 2, 28), (1900, 2, 28), (2000, 2, 29), (2024, 4, 30), (2024, 12, 31)],
)
def test_days_in_month(year, month, expected):
    assert days_in_month(year, month) == expected


def test_month_end():
    assert month_end(date(2024, 2, 10)) == date(2024, 2, 29)
    assert month_end(date(2023, 12, 31)) == date(2023, 12, 31)


def test_add_days_crosses_year():
    assert add_days(date(2023, 12, 30), 5) == date(2024, 1, 4)
    assert add_days(date(2024, 1, 4), -5) == date(2023, 12, 30)


@pytest.mark.parametrize(
    "start, months, expected",
    [
        (date(2024, 1, 15), 1, date(2024, 2, 15)),
        (date(2024, 1, 15), 12, date(2025, 1, 15)),
        (date(2024, 11, 3), 3, date(2025, 2, 3)),
        (date(2024, 3, 10), -3, date(2023, 12, 10)),
        (date(2024, 5, 1), 0, date(2024, 5, 1)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


def test_add_years_leap_day():
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)


def test_business_days_between():
    monday = date(2024, 3, 4)
    assert business_days_between(monday, monday) == 0
    assert business_days_between(monday, date(2024, 3, 9)) == 5  # Mon..Fri
    assert business_days_between(monday, date(2024, 3, 18)) == 10
    assert business_days_between(date(2024, 3, 9), date(2024, 3, 11)) == 0  # weekend
    assert business_days_between(date(2024, 3, 18), monday) == -10
