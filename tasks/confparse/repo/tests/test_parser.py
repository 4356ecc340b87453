import textwrap

import pytest

import confparse
from confparse import ConfigError, get, loads

SAMPLE = textwrap.dedent(
    """\
    # global settings
    name = "demo service"
    debug = false

    [server]
    host = "0.0.0.0"   ; the bind address
    port = 8080        # inline comment
    timeouts = [1.5, 3, 10]

    [server.tls]
    enabled = yes
    """
)


def test_sample():
    assert loads(SAMPLE) == {
        "name": "demo service",
        "debug": False,
        "server": {"host": "0.0.0.0", "port": 8080, "timeouts": [1.5, 3, 10], "tls": {"enabled": True}},
    }


def test_load_from_file(tmp_path):
    path = tmp_path / "service.conf"
    path.write_text(SAMPLE, encoding="utf-8")
    cfg = confparse.load(path)
    assert (cfg["server"]["port"], get(cfg, "server.tls.enabled")) == (8080, True)


def test_get_default_and_missing():
    cfg = loads(SAMPLE)
    assert get(cfg, "server.missing", None) is None
    assert get(cfg, "name.inner", "x") == "x"
    with pytest.raises(KeyError):
        get(cfg, "server.tls.cert")


def test_sections_can_be_reopened():
    assert loads("[a]\nx = 1\n[b]\ny = 2\n[a]\nz = 3\n") == {"a": {"x": 1, "z": 3}, "b": {"y": 2}}


def test_comment_only_and_blank_lines():
    assert loads("\n   \n; semicolon\n# hash\n") == {}


def test_whitespace_around_tokens():
    assert loads("[ srv ]\n  key   =   value with spaces   \n") == {"srv": {"key": "value with spaces"}}


def test_equals_sign_in_value():
    assert loads("query = a=b\n") == {"query": "a=b"}


@pytest.mark.parametrize(
    "text, lineno, message",
    [
        ("[bad section\n", 1, "invalid section header"),
        ("x = 1\njust text\n", 2, "expected 'key = value'"),
        ("[s]\nx = 1\nx = 2\n", 3, "duplicate key 'x' in section [s]"),
        ("x = 1\nx = 2\n", 2, "duplicate key 'x' in the top level"),
        ("a = 1\n[a]\n", 2, "conflicts"),
        ("[a.b]\n[a]\nb = 1\n", 3, "conflicts with a section"),
        ("\n\nx = \"open\n", 3, "unterminated string"),
    ],
    ids=["section", "no-equals", "duplicate", "duplicate-top", "key-then-section", "section-then-key", "bad-value"],
)
def test_errors_report_line_numbers(text, lineno, message):
    with pytest.raises(ConfigError) as info:
        loads(text)
    assert info.value.lineno == lineno
    assert message in str(info.value)
    assert str(info.value).startswith(f"line {lineno}: ")
