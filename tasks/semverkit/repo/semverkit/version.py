"""The :class:`Version` type: parsing, precedence and bumping."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# The official regular expression from semver.org, with named groups.
_SEMVER = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class VersionError(ValueError):
    """Raised for strings that are not valid semantic versions."""


def _prerelease_key(prerelease: tuple[str, ...]) -> tuple:
    """Sort key of a prerelease: a release (no prerelease) sorts after any prerelease."""
    if not prerelease:
        return (1,)
    return (0, prerelease)


@functools.total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version. Instances are immutable, hashable and ordered by precedence.

    Equality follows precedence too: build metadata is ignored, so
    ``Version.parse("1.0.0+a") == Version.parse("1.0.0+b")``.
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Version":
        """Parse a version such as ``1.2.3-rc.1+build.7``; a leading ``v`` is accepted."""
        s = text.strip()
        if s[:1] in ("v", "V"):
            s = s[1:]
        m = _SEMVER.match(s)
        if not m:
            raise VersionError(f"invalid semantic version: {text!r}")
        pre, build = m["prerelease"], m["build"]
        return cls(
            int(m["major"]),
            int(m["minor"]),
            int(m["patch"]),
            tuple(pre.split(".")) if pre else (),
            tuple(build.split(".")) if build else (),
        )

    @classmethod
    def coerce(cls, value: "Version | str") -> "Version":
        """Return ``value`` as a :class:`Version`, parsing strings."""
        return value if isinstance(value, Version) else cls.parse(value)

    def __str__(self) -> str:
        s = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            s += "-" + ".".join(self.prerelease)
        if self.build:
            s += "+" + ".".join(self.build)
        return s

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def sort_key(self) -> tuple:
        """The precedence key (build metadata excluded)."""
        return (self.major, self.minor, self.patch, _prerelease_key(self.prerelease))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key() == other.sort_key()

    def __lt__(self, other: "Version") -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key() < other.sort_key()

    def __hash__(self) -> int:
        return hash(self.sort_key())

    def bump(self, part: str) -> "Version":
        """Return the next ``major``, ``minor`` or ``patch`` release.

        Bumping a prerelease to the part it is a prerelease of releases it:
        ``1.2.0-rc.1`` bumped by ``minor`` is ``1.2.0`` and ``2.0.0-rc.1``
        bumped by ``major`` is ``2.0.0``.
        """
        if part == "major":
            if self.prerelease and self.minor == 0 and self.patch == 0:
                return Version(self.major, 0, 0)
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            if self.prerelease and self.patch == 0:
                return Version(self.major, self.minor, 0)
            return Version(self.major, self.minor + 1, 0)
        if part == "patch":
            if self.prerelease:
                return Version(self.major, self.minor, self.patch)
            return Version(self.major, self.minor, self.patch + 1)
        raise ValueError(f"unknown version part: {part!r} (expected major, minor or patch)")


def compare(a: "Version | str", b: "Version | str") -> int:
    """Return -1, 0 or 1 as ``a`` has lower, equal or higher precedence than ``b``."""
    ka, kb = Version.coerce(a).sort_key(), Version.coerce(b).sort_key()
    return (ka > kb) - (ka < kb)
