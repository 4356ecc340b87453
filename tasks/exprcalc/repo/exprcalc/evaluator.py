"""Evaluation of parsed expressions."""

from __future__ import annotations

import math
import operator
from typing import Callable, Mapping, Optional, Union

from .parser import BinOp, Call, Name, Node, Num, UnaryOp, parse
from .tokenizer import ExprError

Number = Union[int, float]

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "sqrt": math.sqrt,
    "floor": math.floor,
    "ceil": math.ceil,
    "log": math.log,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}

_BINARY: dict[str, Callable[[Number, Number], Number]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}

MAX_EXPONENT = 10_000  # guards against 9 ** 9 ** 9 style denial of service


def _eval(node: Node, names: Mapping[str, Number]) -> Number:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        if node.name in names:
            return names[node.name]
        if node.name in CONSTANTS:
            return CONSTANTS[node.name]
        raise ExprError(f"unknown name {node.name!r}", node.pos)
    if isinstance(node, UnaryOp):
        value = _eval(node.operand, names)
        return -value if node.op == "-" else +value
    if isinstance(node, BinOp):
        left, right = _eval(node.left, names), _eval(node.right, names)
        if node.op == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise ExprError("exponent too large", node.pos)
        try:
            return _BINARY[node.op](left, right)
        except ZeroDivisionError:
            raise ExprError("division by zero", node.pos) from None
        except OverflowError:
            raise ExprError("numeric overflow", node.pos) from None
    if isinstance(node, Call):
        func = FUNCTIONS.get(node.func)
        if func is None:
            raise ExprError(f"unknown function {node.func!r}", node.pos)
        args = [_eval(arg, names) for arg in node.args]
        try:
            return func(*args)
        except (TypeError, ValueError) as exc:
            raise ExprError(f"{node.func}(): {exc}", node.pos) from None
    raise TypeError(f"not an expression node: {node!r}")


def evaluate(expression: Union[str, Node], variables: Optional[Mapping[str, Number]] = None) -> Number:
    """Evaluate ``expression`` (text or a parsed AST) with optional ``variables``."""
    node = parse(expression) if isinstance(expression, str) else expression
    return _eval(node, variables or {})
