"""Version ranges in the npm/Cargo style: ``^1.2``, ``~1.2.3``, ``>=1.0 <2``, ``1.x || 3.x``."""

from __future__ import annotations

import operator
import re
from typing import Callable, Iterable, Optional

from .version import Version

_OPS: dict[str, Callable[[Version, Version], bool]] = {
    "=": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^(\^|~|>=|<=|>|<|=)?\s*(.+)$")

Comparator = tuple[Callable[[Version, Version], bool], Version]


class RangeError(ValueError):
    """Raised for malformed range expressions."""


def _partial(text: str) -> tuple[Optional[int], Optional[int], Optional[int], str]:
    """Parse ``1``, ``1.2``, ``1.x``, ``1.2.3-rc.1`` into (major, minor, patch, suffix); wildcards are None."""
    m = _PARTIAL.match(text)
    if not m:
        raise RangeError(f"invalid version in range: {text!r}")
    parts = [None if p is None or p in "xX*" else int(p) for p in m.groups()[:3]]
    # Anything after a wildcard is a wildcard too ("1.x.3" means "1.x").
    for i in range(1, 3):
        if parts[i - 1] is None:
            parts[i] = None
    return parts[0], parts[1], parts[2], (m[4] or "")


def _expand(op: str, text: str) -> list[Comparator]:
    """Turn one comparator (``^1.2``, ``>=1.0.0``, ``1.x``) into primitive comparisons."""
    major, minor, patch, suffix = _partial(text)
    if major is None:
        return []  # "*": anything
    lower = Version.parse(f"{major}.{minor or 0}.{patch or 0}{suffix}")
    if op == "^":
        if major > 0 or minor is None:
            upper = Version(major + 1, 0, 0)
        elif minor > 0 or patch is None:
            upper = Version(0, minor + 1, 0)
        else:
            upper = Version(0, 0, patch + 1)
        return [(operator.ge, lower), (operator.lt, _floor(upper))]
    if op == "~":
        upper = Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)
        return [(operator.ge, lower), (operator.lt, _floor(upper))]
    if minor is None or patch is None:
        # A partial version stands for the whole block it names.
        upper = Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)
        if op in ("", "="):
            return [(operator.ge, lower), (operator.lt, _floor(upper))]
        if op == ">":
            return [(operator.ge, upper)]
        if op == "<=":
            return [(operator.lt, _floor(upper))]
    return [(_OPS[op or "="], lower)]


def _floor(v: Version) -> Version:
    """The lowest version of the release ``v``, i.e. its first prerelease ``v-0``.

    Upper bounds use it so that ``<2.0.0`` from ``^1.2`` also excludes
    ``2.0.0-alpha``.
    """
    return Version(v.major, v.minor, v.patch, ("0",))


class Range:
    """A set of versions described by a range expression."""

    def __init__(self, expression: str):
        self.expression = expression
        self._sets: list[list[Comparator]] = []
        for alternative in expression.split("||"):
            tokens = re.sub(r"(\^|~|>=|<=|>|<|=)\s+", r"\1", alternative.strip()).split()
            if not tokens:
                tokens = ["*"]
            comparators: list[Comparator] = []
            for token in tokens:
                m = _COMPARATOR.match(token)
                if not m:
                    raise RangeError(f"invalid comparator: {token!r}")
                comparators.extend(_expand(m[1] or "", m[2]))
            self._sets.append(comparators)

    def __repr__(self) -> str:
        return f"Range({self.expression!r})"

    def contains(self, version: "Version | str") -> bool:
        """Whether ``version`` satisfies the range."""
        v = Version.coerce(version)
        return any(all(op(v, bound) for op, bound in comparators) for comparators in self._sets)

    __contains__ = contains

    def filter(self, versions: Iterable["Version | str"]) -> list[Version]:
        """The versions that satisfy the range, sorted by precedence."""
        return sorted(v for v in map(Version.coerce, versions) if self.contains(v))

    def max_satisfying(self, versions: Iterable["Version | str"]) -> Optional[Version]:
        """The highest version that satisfies the range, or None."""
        matching = self.filter(versions)
        return matching[-1] if matching else None
