"""The line-oriented parser."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Union

from .values import parse_value

_SECTION = re.compile(r"^\[\s*([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\s*\]$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


class ConfigError(ValueError):
    """A syntax or value error, with the (1-based) line number it occurred on."""

    def __init__(self, message: str, lineno: int):
        super().__init__(f"line {lineno}: {message}")
        self.lineno = lineno


def _strip_comment(line: str) -> str:
    """Remove a trailing ``#`` or ``;`` comment from ``line``."""
    for marker in ("#", ";"):
        line = line.split(marker, 1)[0]
    return line.strip()


def _table(root: dict[str, Any], dotted: str, lineno: int) -> dict[str, Any]:
    """Return (creating it if needed) the nested table named ``dotted``."""
    table = root
    for part in dotted.split("."):
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise ConfigError(f"section {dotted!r} conflicts with the key {part!r}", lineno)
    return table


def loads(text: str) -> dict[str, Any]:
    """Parse configuration text into nested dictionaries.

    Keys before the first section header go to the top level.
    """
    root: dict[str, Any] = {}
    table = root
    section = ""
    seen: set[tuple[str, str]] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("["):
            m = _SECTION.match(line)
            if not m:
                raise ConfigError(f"invalid section header: {line!r}", lineno)
            section = m[1]
            table = _table(root, section, lineno)
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise ConfigError(f"expected 'key = value', got {line!r}", lineno)
        if (section, key) in seen:
            where = f"section [{section}]" if section else "the top level"
            raise ConfigError(f"duplicate key {key!r} in {where}", lineno)
        seen.add((section, key))
        if isinstance(table.get(key), dict):
            raise ConfigError(f"key {key!r} conflicts with a section", lineno)
        try:
            table[key] = parse_value(value)
        except ValueError as exc:
            raise ConfigError(str(exc), lineno) from None
    return root


def load(path: Union[str, Path]) -> dict[str, Any]:
    """Read and parse the file at ``path`` (UTF-8)."""
    return loads(Path(path).read_text(encoding="utf-8"))


_MISSING = object()


def get(config: dict[str, Any], dotted: str, default: Any = _MISSING) -> Any:
    """Look up ``"section.sub.key"`` in a parsed configuration.

    Returns ``default`` when a part is missing, or raises :class:`KeyError`
    when no default is given.
    """
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is _MISSING:
                raise KeyError(dotted)
            return default
        node = node[part]
    return node
