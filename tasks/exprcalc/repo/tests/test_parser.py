import pytest

from exprcalc import BinOp, Call, ExprError, Name, Num, UnaryOp, parse, tokenize


def test_tokenize():
    kinds = [(t.kind, t.text) for t in tokenize("2**x // (3.5e1, y)")]
    assert kinds == [
        ("num", "2"), ("op", "**"), ("name", "x"), ("op", "//"), ("(", "("), ("num", "3.5e1"),
        (",", ","), ("name", "y"), (")", ")"), ("end", ""),
    ]


def test_tokenize_rejects_unknown_characters():
    with pytest.raises(ExprError) as info:
        tokenize("1 + $")
    assert info.value.pos == 4


def test_precedence_of_multiplication():
    assert parse("1 + 2 * 3") == BinOp("+", Num(1), BinOp("*", Num(2), Num(3), 6), 2)


def test_left_associativity_of_subtraction():
    assert parse("8 - 4 - 2") == BinOp("-", BinOp("-", Num(8), Num(4), 2), Num(2), 6)


def test_unary_and_names():
    assert parse("-x") == UnaryOp("-", Name("x", 1))


def test_call_with_arguments():
    assert parse("max(1, y)") == Call("max", (Num(1), Name("y", 7)), 0)
    assert parse("f()") == Call("f", (), 0)


def test_numbers():
    assert parse("42") == Num(42)
    assert parse("1.5") == Num(1.5)
    assert parse(".5") == Num(0.5)
    assert parse("2e3") == Num(2000.0)


@pytest.mark.parametrize(
    "text, pos",
    [("1 +", 3), ("(1 + 2", 6), ("1 2", 2), ("max(1,", 6), (")", 0), ("", 0)],
    ids=["dangling-operator", "open-paren", "two-numbers", "open-call", "close-paren", "empty"],
)
def test_syntax_errors(text, pos):
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.pos == pos
