import pytest

from tablefmt import STYLES, tabulate

FRUIT = [["apple", 3, 1.5], ["kiwi", 12, 0.25]]
HEADERS = ["fruit", "qty", "price"]


def test_simple():
    assert tabulate(FRUIT, HEADERS) == (
        "fruit  qty  price\n"
        "-----  ---  -----\n"
        "apple    3    1.5\n"
        "kiwi    12   0.25"
    )


def test_plain_without_headers():
    assert tabulate([["x", 3], ["yy", 10]], style="plain") == "x    3\nyy  10"


def test_grid():
    assert tabulate(FRUIT, HEADERS, style="grid") == (
        "+-------+-----+-------+\n"
        "| fruit | qty | price |\n"
        "+-------+-----+-------+\n"
        "| apple |   3 |   1.5 |\n"
        "+-------+-----+-------+\n"
        "| kiwi  |  12 |  0.25 |\n"
        "+-------+-----+-------+"
    )


def test_markdown_alignment_row():
    table = tabulate([["a", 1, "x"]], ["left", "num", "mid"], style="markdown", align=["left", "right", "center"])
    assert table == "| left | num | mid |\n|:-----|----:|:---:|\n| a    |   1 |  x  |"


def test_markdown_minimum_width():
    assert tabulate([[1]], ["n"], style="markdown") == "|   n |\n|----:|\n|   1 |"


def test_floatfmt_that_shortens_values():
    table = tabulate([["pi", 3.14159], ["e", 2.71828]], ["name", "value"], floatfmt=".1f")
    assert [line.split() for line in table.splitlines()[2:]] == [["pi", "3.1"], ["e", "2.7"]]


def test_ints_in_a_float_column_use_floatfmt():
    assert tabulate([[1], [2.5]], floatfmt=".2f", style="plain") == "1.00\n2.50"


def test_missing_values():
    table = tabulate([["a", None], ["b", 2]], ["k", "v"], missingval="n/a")
    assert table.splitlines()[2:] == ["a  n/a", "b    2"]


def test_short_rows_are_padded():
    assert tabulate([["a"], ["b", 1]], ["k", "v"]).splitlines()[2] == "a"


def test_dict_rows_with_keys():
    rows = [{"name": "ada", "age": 36}, {"name": "alan", "lang": "en"}]
    assert tabulate(rows, headers="keys").splitlines() == [
        "name  age  lang",
        "----  ---  ----",
        "ada    36",
        "alan       en",
    ]


def test_mixed_column_is_text_and_left_aligned():
    assert tabulate([["x", 1], ["y", "two"]], style="plain") == "x  1\ny  two"


def test_bools_are_not_numbers():
    assert tabulate([[True], [False]], style="plain") == "True\nFalse"


def test_empty_table_with_headers():
    assert tabulate([], ["a", "b"]) == "a  b\n-  -"


@pytest.mark.parametrize("style", sorted(STYLES))
def test_all_lines_of_a_table_have_the_same_width(style):
    rows = [["alpha", 1, 0.5, None], ["b", 22, 10.25, "note"], ["c", 333, 3.0, "x"]]
    lines = tabulate(
        rows, ["name", "n", "x", "comment"], style=style, align=["left", "right", "right", "right"], missingval="?"
    ).splitlines()
    assert len({len(line) for line in lines}) == 1, lines


def test_unknown_style():
    with pytest.raises(ValueError, match="unknown style"):
        tabulate([[1]], style="fancy")


def test_bad_align():
    with pytest.raises(ValueError, match="align"):
        tabulate([[1, 2]], align=["left"])


def test_keys_need_dicts():
    with pytest.raises(TypeError):
        tabulate([[1, 2]], headers="keys")
