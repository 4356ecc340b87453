import pytest

from semverkit import Range, RangeError, Version


@pytest.mark.parametrize(
    "expression, inside, outside",
    [
        ("1.2.3", ["1.2.3", "1.2.3+b"], ["1.2.4", "1.2.2"]),
        (">=1.2.0", ["1.2.0", "3.0.0"], ["1.1.9"]),
        (">1.2.0 <=1.4.0", ["1.2.1", "1.4.0"], ["1.2.0", "1.4.1"]),
        ("^1.2.3", ["1.2.3", "1.9.9"], ["1.2.2", "2.0.0", "2.0.0-alpha"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
        ("^1.2", ["1.2.0", "1.99.0"], ["2.0.0", "1.1.0"]),
        ("^0.x", ["0.0.0", "0.9.9"], ["1.0.0"]),
        ("~1.2.3", ["1.2.3", "1.2.99"], ["1.3.0", "1.2.2"]),
        ("~1.2", ["1.2.0", "1.2.5"], ["1.3.0"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("1.x", ["1.0.0", "1.99.99"], ["2.0.0", "0.9.0"]),
        ("1.2.*", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("*", ["0.0.1", "99.0.0"], []),
        ("", ["1.0.0"], []),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        ("<=1.2", ["1.2.9", "0.1.0"], ["1.3.0"]),
        ("<1.0.0 || >=2.0.0 <2.1.0", ["0.5.0", "2.0.5"], ["1.5.0", "2.1.0"]),
        (">= 1.0.0 < 1.1.0", ["1.0.3"], ["1.1.0"]),
    ],
)
def test_contains(expression, inside, outside):
    r = Range(expression)
    for v in inside:
        assert r.contains(v), (expression, v)
    for v in outside:
        assert v not in r, (expression, v)


def test_filter_and_max_satisfying():
    versions = ["1.2.0", "1.2.9", "1.3.0", "1.2.10", "2.0.0"]
    r = Range("~1.2")
    assert [str(v) for v in r.filter(versions)] == ["1.2.0", "1.2.9", "1.2.10"]
    assert r.max_satisfying(versions) == Version(1, 2, 10)
    assert Range("^3").max_satisfying(versions) is None


@pytest.mark.parametrize("expression", ["^", ">=banana", "1.2.3.4", "~>1.2"])
def test_invalid_ranges(expression):
    with pytest.raises(RangeError):
        Range(expression)


def test_repr():
    assert repr(Range("^1.0")) == "Range('^1.0')"
