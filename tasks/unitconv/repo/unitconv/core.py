"""Unit lookup and conversion.

Every unit maps a value to the SI unit of its dimension with
``si = value * factor + offset`` (the offset is only non-zero for
temperatures). The table itself lives in :mod:`unitconv._units`, which is
generated from ``data/units.csv``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from ._units import ALIASES, UNITS


class UnitError(ValueError):
    """Raised for unknown units, incompatible dimensions or malformed quantities."""


class Unit(NamedTuple):
    symbol: str
    name: str
    dimension: str
    factor: float
    offset: float


@dataclass(frozen=True)
class Quantity:
    """A value together with its unit symbol."""

    value: float
    unit: str

    def to(self, unit: str) -> "Quantity":
        """Return this quantity converted to ``unit``."""
        target = lookup(unit)
        return Quantity(convert(self.value, self.unit, target.symbol), target.symbol)


def lookup(unit: str) -> Unit:
    """Resolve a unit symbol or alias to a :class:`Unit`.

    Symbols are case-sensitive (``K`` is kelvin); aliases are tried as written
    and then in lower case.
    """
    key = unit.strip()
    symbol = key if key in UNITS else ALIASES.get(key) or ALIASES.get(key.lower())
    if symbol is None:
        raise UnitError(f"unknown unit: {unit!r}")
    name, dimension, factor, offset = UNITS[symbol]
    return Unit(symbol, name, dimension, factor, offset)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert ``value`` from ``from_unit`` to ``to_unit``.

    >>> convert(1, "km", "m")
    1000.0
    """
    src, dst = lookup(from_unit), lookup(to_unit)
    if src.dimension != dst.dimension:
        raise UnitError(f"cannot convert {src.dimension} ({src.symbol}) to {dst.dimension} ({dst.symbol})")
    si = value * src.factor + src.offset
    return (si - dst.offset) / dst.factor


_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z_][A-Za-z_0-9 ]*?)\s*$")


def parse_quantity(text: str) -> Quantity:
    """Parse ``"3.5 km"`` or ``"12kg"`` into a :class:`Quantity` with the unit's symbol."""
    m = _QUANTITY.match(text)
    if not m:
        raise UnitError(f"not a quantity: {text!r}")
    return Quantity(float(m[1]), lookup(m[2]).symbol)


def format_quantity(q: Quantity, digits: int = 6) -> str:
    """Format ``q`` with ``digits`` significant digits: ``"42.1648 km"``."""
    return f"{q.value:.{digits}g} {q.unit}"
