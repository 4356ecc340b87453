import pytest

from confparse import parse_value


@pytest.mark.parametrize(
    "text, expected",
    [
        ("42", 42),
        ("-7", -7),
        ("1_000", 1000),
        ("0x1F", 31),
        ("1.5", 1.5),
        ("2e3", 2000.0),
        (".5", 0.5),
        ("true", True),
        ("Off", False),
        ("yes", True),
        ('"text"', "text"),
        ("'raw \\n'", "raw \\n"),
        ('"tab\\there"', "tab\there"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("plain words", "plain words"),
        ("007", "007"),
        ("", ""),
    ],
    ids=[
        "int", "negative", "underscores", "hex", "float", "exponent", "leading-dot", "true", "off", "yes",
        "double-quoted", "single-quoted-raw", "escape-tab", "escape-quote", "bare-words", "leading-zero", "empty",
    ],
)
def test_scalars(text, expected):
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


def test_lists():
    assert parse_value('[1, 2.5, "a, b", on, ]') == [1, 2.5, "a, b", True]
    assert parse_value("[]") == []


@pytest.mark.parametrize(
    "text",
    ['"open', "'it's'", '"bad \\q"', "[1, 2", "[1, [2]]", "[1,,2]", '["x]'],
    ids=["unterminated", "inner-quote", "bad-escape", "open-list", "nested-list", "empty-item", "open-string-in-list"],
)
def test_invalid(text):
    with pytest.raises(ValueError):
        parse_value(text)
