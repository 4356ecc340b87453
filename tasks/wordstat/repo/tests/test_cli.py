import io
import json

import pytest

from wordstat.cli import main

TEXT = "the cat and the hat\nthe end\n"


def run(argv, stdin=""):
    out = io.StringIO()
    status = main(argv, out=out, stdin=io.StringIO(stdin))
    return status, out.getvalue()


def test_count_stdin():
    assert run(["count"], TEXT) == (0, "       2       7      28\n")


def test_count_columns():
    assert run(["count", "-w"], TEXT) == (0, "       7\n")
    assert run(["count", "-l", "-c"], TEXT) == (0, "       2      28\n")


def test_count_files_with_total(tmp_path):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("one two\n")
    b.write_text("three\nfour\n")
    status, out = run(["count", "-w", str(a), str(b)])
    assert status == 0
    assert out.splitlines() == [f"       2 {a}", f"       2 {b}", "       4 total"]


def test_top_text():
    assert run(["top", "-n", "2"], TEXT) == (0, "the\t3\nand\t1\n")


def test_top_json():
    status, out = run(["top", "-n", "1", "--json"], TEXT)
    assert status == 0
    assert json.loads(out) == [{"word": "the", "count": 3}]


def test_top_min_length():
    assert run(["top", "--min-length", "4"], "a bb ccc dddd eeeee") == (0, "dddd\t1\neeeee\t1\n")


def test_longest():
    assert run(["longest", "-n", "2"], TEXT) == (0, "   3 and\n   3 cat\n")


def test_missing_file_is_an_error(tmp_path, capsys):
    status, _ = run(["count", str(tmp_path / "nope.txt")])
    assert status == 1
    assert "No such file" in capsys.readouterr().err


def test_subcommand_is_required(capsys):
    with pytest.raises(SystemExit):
        main([])
