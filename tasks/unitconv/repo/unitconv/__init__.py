"""unitconv: convert quantities between units."""

from .core import Quantity, UnitError, convert, format_quantity, lookup, parse_quantity

__all__ = ["Quantity", "UnitError", "convert", "format_quantity", "lookup", "parse_quantity"]
__version__ = "0.4.0"
