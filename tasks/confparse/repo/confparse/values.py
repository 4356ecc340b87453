"""Conversion of the text right of ``=`` into Python values."""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F_]+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)$")
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def unquote(text: str) -> str:
    """Remove the quotes around a string literal and resolve escapes in double-quoted ones.

    Raises :class:`ValueError` for unterminated literals and unknown escapes.
    """
    quote = text[0]
    if len(text) < 2 or text[-1] != quote:
        raise ValueError(f"unterminated string: {text}")
    body = text[1:-1]
    if quote == "'":
        if "'" in body:
            raise ValueError(f"unexpected quote in string: {text}")
        return body
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise ValueError(f"invalid escape in string: {text}")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        if ch == '"':
            raise ValueError(f"unexpected quote in string: {text}")
        out.append(ch)
        i += 1
    return "".join(out)


def split_list(body: str) -> list[str]:
    """Split the inside of ``[...]`` on commas that are not inside quotes."""
    items, current, quote, escaped = [], [], None, False
    for ch in body:
        if escaped:
            escaped = False
        elif quote == '"' and ch == "\\":
            escaped = True
        elif quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quote:
        raise ValueError(f"unterminated string in list: [{body}]")
    items.append("".join(current))
    items = [item.strip() for item in items]
    if items and items[-1] == "":  # a trailing comma is allowed
        items.pop()
    if any(item == "" for item in items):
        raise ValueError(f"empty list item: [{body}]")
    return items


def parse_value(text: str, *, allow_list: bool = True) -> Any:
    """Parse one value (see the README for the accepted forms)."""
    s = text.strip()
    if not s:
        return ""
    if s[0] in "\"'":
        return unquote(s)
    if s[0] == "[":
        if not allow_list:
            raise ValueError("nested lists are not supported")
        if s[-1] != "]":
            raise ValueError(f"unterminated list: {s}")
        return [parse_value(item, allow_list=False) for item in split_list(s[1:-1])]
    if _INT.match(s):
        return int(s.replace("_", ""))
    if _HEX.match(s):
        return int(s.replace("_", ""), 16)
    if _FLOAT.match(s):
        return float(s)
    lowered = s.lower()
    if lowered in _BOOLS:
        return _BOOLS[lowered]
    return s
