from datetime import date

import pytest

from datekit import humanize

TODAY = date(2024, 3, 1)


@pytest.mark.parametrize(
    "d, expected",
    [
        (date(2024, 3, 1), "today"),
        (date(2024, 3, 2), "tomorrow"),
        (date(2024, 2, 29), "yesterday"),
        (date(2024, 3, 4), "in 3 days"),
        (date(2024, 2, 23), "1 week ago"),
        (date(2024, 3, 22), "in 3 weeks"),
        (date(2023, 12, 1), "3 months ago"),
        (date(2026, 3, 1), "in 2 years"),
    ],
    ids=lambda v: v.replace(" ", "_") if isinstance(v, str) else None,
)
def test_humanize(d, expected):
    assert humanize(d, today=TODAY) == expected
