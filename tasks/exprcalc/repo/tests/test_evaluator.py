import math

import pytest

from exprcalc import ExprError, evaluate, parse


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 / 4", 2.5),
        ("10 // 4", 2),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("8 - 4 - 2", 2),
        ("64 / 8 / 2", 4.0),
        ("--3", 3),
        ("+4 - -4", 8),
        ("2 * (3 + 4) - 10 / 4", 11.5),
    ],
    ids=lambda v: "_".join(v.split()) if isinstance(v, str) else None,
)
def test_arithmetic(text, expected):
    assert evaluate(text) == expected


def test_variables_and_constants():
    assert evaluate("sqrt(x**2 + y**2)", {"x": 3, "y": 4}) == 5.0
    assert math.isclose(evaluate("cos(pi)"), -1.0)
    assert evaluate("e", {"e": 1}) == 1  # variables shadow constants


def test_functions():
    assert evaluate("max(1, 7, 3) % 4") == 3
    assert evaluate("round(2.567, 2)") == 2.57
    assert evaluate("floor(-1.5) + ceil(1.2)") == 0


def test_evaluate_accepts_an_ast():
    tree = parse("a * 2")
    assert [evaluate(tree, {"a": a}) for a in (1, 2, 3)] == [2, 4, 6]


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 / 0", "division by zero"),
        ("unknown + 1", "unknown name 'unknown'"),
        ("nope(1)", "unknown function 'nope'"),
        ("sqrt(-1)", "sqrt(): math domain error"),
        ("2 ** 100000", "exponent too large"),
        ("max()", "max():"),
    ],
    ids=["div-zero", "name", "function", "domain", "exponent", "arity"],
)
def test_errors(text, message):
    with pytest.raises(ExprError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate(text)
