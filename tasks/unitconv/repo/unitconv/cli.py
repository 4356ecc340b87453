"""Command line interface: ``python -m unitconv VALUE FROM TO``."""

from __future__ import annotations

import argparse
import sys

from ._units import UNITS
from .core import Quantity, UnitError, format_quantity


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unitconv", description="Convert a quantity between units.")
    parser.add_argument("value", nargs="?", type=float, help="the number to convert")
    parser.add_argument("from_unit", nargs="?", help="unit of VALUE")
    parser.add_argument("to_unit", nargs="?", help="unit to convert to")
    parser.add_argument("--digits", type=int, default=6, help="significant digits (default: 6)")
    parser.add_argument("--list", action="store_true", help="list the known units and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        for symbol, (name, dimension, _, _) in sorted(UNITS.items(), key=lambda kv: (kv[1][1], kv[0])):
            print(f"{dimension:<12} {symbol:<6} {name}")
        return 0
    if args.value is None or args.from_unit is None or args.to_unit is None:
        parser.error("VALUE, FROM and TO are required unless --list is given")
    try:
        result = Quantity(args.value, args.from_unit).to(args.to_unit)
    except UnitError as exc:
        print(f"unitconv: {exc}", file=sys.stderr)
        return 2
    print(format_quantity(result, args.digits))
    return 0
