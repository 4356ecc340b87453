import pytest

from semverkit import Version, VersionError, compare


def test_parse_full():
    v = Version.parse("1.4.0-rc.1+build.5")
    assert (v.major, v.minor, v.patch) == (1, 4, 0)
    assert v.prerelease == ("rc", "1")
    assert v.build == ("build", "5")
    assert v.is_prerelease


@pytest.mark.parametrize("text", ["0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-0.3.7", "1.0.0-x.7.z.92", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85"])
def test_str_round_trip(text):
    assert str(Version.parse(text)) == text


def test_leading_v_and_whitespace():
    assert Version.parse(" v2.0.1 ") == Version(2, 0, 1)


@pytest.mark.parametrize("text", ["1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.3-", "1.2.3-01", "1.2.3+", "1.2.3-a..b", "a.b.c", ""])
def test_invalid(text):
    with pytest.raises(VersionError):
        Version.parse(text)


def test_release_ordering():
    assert Version.parse("1.2.3") < Version.parse("1.2.4") < Version.parse("1.3.0") < Version.parse("2.0.0")
    assert Version.parse("1.10.0") > Version.parse("1.9.0")


def test_prerelease_sorts_before_release():
    assert Version.parse("1.0.0-alpha") < Version.parse("1.0.0")
    assert Version.parse("1.0.0-rc.1") > Version.parse("0.9.9")


def test_build_metadata_is_ignored():
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")
    assert hash(Version.parse("1.0.0+a")) == hash(Version.parse("1.0.0"))
    assert compare("1.0.0+x", "1.0.0") == 0


def test_compare():
    assert compare("1.0.0", "2.0.0") == -1
    assert compare(Version(2, 0, 0), "1.9.9") == 1
    assert compare("1.0.0-alpha", "1.0.0-alpha") == 0


def test_comparison_with_other_types():
    assert Version(1, 0, 0) != "1.0.0"
    with pytest.raises(TypeError):
        Version(1, 0, 0) < "1.0.0"


@pytest.mark.parametrize(
    "version, part, expected",
    [
        ("1.2.3", "patch", "1.2.4"),
        ("1.2.3", "minor", "1.3.0"),
        ("1.2.3", "major", "2.0.0"),
        ("1.2.3-rc.1", "patch", "1.2.3"),
        ("1.2.0-rc.1", "minor", "1.2.0"),
        ("1.2.3-rc.1", "minor", "1.3.0"),
        ("2.0.0-alpha", "major", "2.0.0"),
        ("2.1.0-alpha", "major", "3.0.0"),
    ],
)
def test_bump(version, part, expected):
    assert str(Version.parse(version).bump(part)) == expected


def test_bump_unknown_part():
    with pytest.raises(ValueError, match="unknown version part"):
        Version(1, 0, 0).bump("build")
