"""datekit: parse, shift and humanize calendar dates."""

from .arith import add_days, add_months, add_years, business_days_between, days_in_month, month_end
from .humanize import humanize
from .parse import DateParseError, parse_date

__all__ = [
    "DateParseError",
    "add_days",
    "add_months",
    "add_years",
    "business_days_between",
    "days_in_month",
    "humanize",
    "month_end",
    "parse_date",
]

__version__ = "1.0.0"
