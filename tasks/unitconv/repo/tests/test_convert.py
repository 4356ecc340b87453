import math

import pytest

from unitconv import Quantity, UnitError, convert, format_quantity, lookup, parse_quantity


@pytest.mark.parametrize(
    "value, src, dst, expected",
    [
        (1, "km", "m", 1000),
        (26.2, "mi", "km", 42.1648128),
        (12, "in", "ft", 1),
        (3, "ft", "yd", 1),
        (1, "nmi", "m", 1852),
        (1, "lb", "kg", 0.45359237),
        (16, "oz", "lb", 1),
        (2.5, "t", "kg", 2500),
        (90, "min", "h", 1.5),
        (2, "week", "day", 14),
        (1, "l", "ml", 1000),
        (1, "m3", "l", 1000),
        (100, "degC", "degF", 212),
        (32, "degF", "degC", 0),
        (0, "K", "degC", -273.15),
        (-40, "degC", "degF", -40),
    ],
)
def test_convert(value, src, dst, expected):
    assert math.isclose(convert(value, src, dst), expected, rel_tol=1e-9, abs_tol=1e-9)


def test_convert_round_trip():
    for src, dst in [("mi", "km"), ("degF", "K"), ("oz", "g"), ("cup", "ml")]:
        assert math.isclose(convert(convert(7.25, src, dst), dst, src), 7.25)


def test_incompatible_dimensions():
    with pytest.raises(UnitError, match="cannot convert length"):
        convert(1, "km", "kg")


@pytest.mark.parametrize("name, symbol", [("meters", "m"), ("Miles", "mi"), ("L", "l"), ("celsius", "degC"), ("K", "K")])
def test_lookup_aliases(name, symbol):
    assert lookup(name).symbol == symbol


def test_lookup_unknown():
    with pytest.raises(UnitError, match="unknown unit"):
        lookup("furlong")


@pytest.mark.parametrize(
    "text, expected",
    [("3.5 km", Quantity(3.5, "km")), ("12kg", Quantity(12, "kg")), ("-4 degC", Quantity(-4, "degC")), (" 1e3 m ", Quantity(1000, "m"))],
)
def test_parse_quantity(text, expected):
    assert parse_quantity(text) == expected


def test_parse_quantity_rejects_garbage():
    with pytest.raises(UnitError):
        parse_quantity("km 3")


def test_quantity_to_and_format():
    q = Quantity(26.2, "miles").to("kilometers")
    assert q.unit == "km"
    assert format_quantity(q) == "42.1648 km"
    assert format_quantity(Quantity(1 / 3, "h"), digits=3) == "0.333 h"
