"""Exhaustive property checks over a grid of versions (these take a few seconds)."""

import itertools

import pytest

from semverkit import Range, Version, compare

NUMBERS = range(4)
# Prerelease labels whose precedence is unambiguous.
PRERELEASES = [
    (),
    ("1",),
    ("alpha",),
    ("alpha", "1"),
    ("alpha", "beta"),
    ("beta",),
    ("beta", "2"),
    ("rc",),
    ("rc", "1"),
    ("rc", "alpha"),
]


def reference_key(v: Version) -> tuple:
    """An independent implementation of semver.org section 11."""
    if not v.prerelease:
        pre = (1,)
    else:
        pre = (0, tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in v.prerelease))
    return (v.major, v.minor, v.patch, pre)


GRID = [Version(a, b, c, pre) for a, b, c in itertools.product(NUMBERS, repeat=3) for pre in PRERELEASES]
RELEASES = [v for v in GRID if not v.prerelease]


def test_grid_is_large():
    assert len(GRID) == 4**3 * len(PRERELEASES)


def test_ordering_matches_reference():
    keys = {v: reference_key(v) for v in GRID}
    for a, b in itertools.product(GRID, repeat=2):
        ka, kb = keys[a], keys[b]
        assert compare(a, b) == (ka > kb) - (ka < kb), (str(a), str(b))
        assert (a < b) == (ka < kb)


def test_sorting_matches_reference():
    shuffled = sorted(GRID, key=lambda v: hash(str(v)))
    assert sorted(shuffled) == sorted(GRID, key=reference_key)


def test_parse_str_round_trip():
    for v in GRID:
        assert Version.parse(str(v)) == v
        assert str(Version.parse(str(v))) == str(v)


def _next_releases(part: str) -> list[Version]:
    """The releases a bump to ``part`` may land on (lower parts zero), a bit beyond the grid."""
    more = range(len(NUMBERS) + 2)
    candidates = [Version(a, b, c) for a, b, c in itertools.product(more, repeat=3)]
    if part == "major":
        return [v for v in candidates if v.minor == v.patch == 0]
    if part == "minor":
        return [v for v in candidates if v.patch == 0]
    return candidates


@pytest.mark.parametrize("part", ["major", "minor", "patch"])
def test_bump_is_the_next_release(part):
    candidates = sorted(_next_releases(part))
    for v in GRID:
        expected = next(c for c in candidates if c > v)
        assert v.bump(part) == expected, (str(v), part)


def _caret_upper(v: Version) -> Version:
    if v.major:
        return Version(v.major + 1, 0, 0)
    if v.minor:
        return Version(0, v.minor + 1, 0)
    return Version(0, 0, v.patch + 1)


@pytest.mark.parametrize("operator", ["^", "~"])
def test_caret_and_tilde_match_their_definition(operator):
    for base in RELEASES:
        r = Range(f"{operator}{base}")
        upper = _caret_upper(base) if operator == "^" else Version(base.major, base.minor + 1, 0)
        for v in GRID:
            expected = reference_key(base) <= reference_key(v) < reference_key(Version(upper.major, upper.minor, upper.patch, ("0",)))
            assert r.contains(v) == expected, (str(r), str(v))


def test_union_is_logical_or():
    ranges = ["<1.0.0", "^2.1", "~3.3.0", "1.x"]
    for left, right in itertools.combinations(ranges, 2):
        union = Range(f"{left} || {right}")
        a, b = Range(left), Range(right)
        for v in GRID:
            assert union.contains(v) == (a.contains(v) or b.contains(v))
