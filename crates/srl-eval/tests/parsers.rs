//! Parsers on real runner logs (tests/fixtures, see its README.md for how each was produced).

use srl_eval::TestStatus::{self, Error, Failed, Passed, Skipped, Xfail};
use srl_eval::{LogParser, Markers, StatusMap, extract_test_output, parser_for_repo};

fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parse(parser: LogParser, name: &str) -> StatusMap {
    let log = fixture(name);
    let out = extract_test_output(&log, &Markers::default()).expect("fixture has markers");
    assert_eq!(out.exit_code, Some(1), "{name}: recorded exit code");
    parser.parse(out.section)
}

fn map(entries: &[(&str, TestStatus)]) -> StatusMap {
    entries.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

const T: &str = "tests/test_sample.py::";

fn pytest_common(text_ids: [&str; 3], mouse: [&str; 2], abs_path: &str) -> Vec<(String, TestStatus)> {
    let mut v = vec![
        ("test_abs_path[//network/share]".to_string(), Passed),
        (abs_path.to_string(), Passed),
        ("test_error".into(), Error),
        ("test_fail".into(), Failed),
        (mouse[0].into(), Passed),
        (mouse[1].into(), Passed),
        ("test_param[1-2]".into(), Passed),
        ("test_param[2-3]".into(), Passed),
        ("test_param[3-5]".into(), Failed),
        ("test_pass".into(), Passed),
        ("test_xfail".into(), Xfail),
        ("test_xpass".into(), Passed),
    ];
    for t in text_ids {
        v.push((t.to_string(), Passed));
    }
    v.into_iter().map(|(k, s)| (format!("{T}{k}"), s)).collect()
}

fn as_map(v: Vec<(String, TestStatus)>) -> StatusMap {
    v.into_iter().collect()
}

const ABS: &str = "test_abs_path[/testbed/pyproj/tests/data/file.txt]";
const MOUSE: [&str; 2] = ["test_mouse[MouseButton.LEFT]", "test_mouse[MouseButton.RIGHT]"];
// The plain parser keeps the first word after the status, as SWE-bench's does: ids with spaces are cut (the
// source of Verified's truncated ids).
const CUT: [&str; 3] = ["test_param_text[a", "test_param_text[with", "test_param_text[log(photon/cm**2]"];
const WHOLE: [&str; 3] = ["test_param_text[a b]", "test_param_text[with - dash]", "test_param_text[log(photon/cm**2]"];

#[test]
fn pytest_ra_short_summary() {
    let m = parse(LogParser::Pytest, "pytest_ra.log");
    assert_eq!(m, as_map(pytest_common(CUT, MOUSE, ABS)));
    // `SKIPPED [1] path:line: reason` names no test.
    assert!(!m.keys().any(|k| k.contains("[1]") || k.contains("test_skip")));
}

#[test]
fn pytest_colour_codes_are_stripped() {
    assert!(fixture("pytest_color.log").contains("\x1b["), "the fixture is coloured");
    assert_eq!(parse(LogParser::Pytest, "pytest_color.log"), as_map(pytest_common(CUT, MOUSE, ABS)));
    assert_eq!(parse(LogParser::PytestV2, "pytest_color.log"), as_map(pytest_common(WHOLE, MOUSE, ABS)));
}

#[test]
fn pytest_v2_keeps_whole_ids_and_cuts_messages() {
    assert_eq!(parse(LogParser::PytestV2, "pytest_ra.log"), as_map(pytest_common(WHOLE, MOUSE, ABS)));
}

#[test]
fn pytest_v2_classic_verbose_style_adds_skipped() {
    // astropy's `-rA -vv -o console_output_style=classic --tb=no`: `path::test STATUS (reason)` lines.
    let mut want = pytest_common(WHOLE, MOUSE, ABS);
    want.push((format!("{T}test_skip"), Skipped));
    assert_eq!(parse(LogParser::PytestV2, "pytest_classic_vv.log"), as_map(want));
}

#[test]
fn matplotlib_normalises_mouse_buttons() {
    let m = parse(LogParser::Matplotlib, "pytest_ra.log");
    assert_eq!(m, as_map(pytest_common(CUT, ["test_mouse[1]", "test_mouse[3]"], ABS)));
}

#[test]
fn pytest_options_shortens_absolute_paths() {
    let m = parse(LogParser::PytestOptions, "pytest_ra.log");
    assert_eq!(m, as_map(pytest_common(CUT, MOUSE, "test_abs_path[/file.txt]")));
}

#[test]
fn seaborn_reads_progress_and_summary_lines() {
    let m = parse(LogParser::Seaborn, "pytest_seaborn.log");
    let want: StatusMap = pytest_common(CUT, MOUSE, ABS)
        .into_iter()
        .filter(|(k, _)| !k.ends_with("test_error") && !k.ends_with("test_xfail") && !k.ends_with("test_xpass"))
        .collect();
    assert_eq!(m, want);
}

#[test]
fn django_runner() {
    let c = "(app_tests.tests.SampleTests.";
    let want = map(&[
        // A test with a docstring prints its first line, which ends in ` ... ok`: SWE-bench's ids are that line.
        ("A test with a multi-line docstring: unittest prints its first line.", Passed),
        // `FAIL:`/`ERROR:` headers add the bare name (SWE-bench does the same).
        ("test_error", Error),
        (&format!("test_error {c}test_error)"), Error),
        (&format!("test_expected_failure {c}test_expected_failure)"), Xfail),
        ("test_fail", Failed),
        (&format!("test_fail {c}test_fail)"), Failed),
        (&format!("test_ok {c}test_ok)"), Passed),
        // `... <output>` then `ok` on the next line.
        (&format!("test_prints_output {c}test_prints_output)"), Passed),
        (&format!("test_skipped {c}test_skipped)"), Skipped),
        (&format!("test_unexpected_success {c}test_unexpected_success)"), Failed),
    ]);
    assert_eq!(parse(LogParser::Django, "django.log"), want);
}

#[test]
fn sympy_bin_test() {
    let want = map(&[
        ("sympy/fixture_demo/tests/test_fixture.py:test_error", Failed),
        ("sympy/fixture_demo/tests/test_fixture.py:test_fail", Failed),
        ("test_error", Error),
        ("test_fail", Failed),
        ("test_ok", Passed),
        ("test_raises", Passed),
        ("test_skip", Skipped),
        ("test_xfail", Xfail),
    ]);
    // `test_raises ok   [FAIL]`: the file's verdict follows the last test on its line (SWE-bench misses that test).
    assert_eq!(parse(LogParser::Sympy, "sympy.log"), want);
}

#[test]
fn django_split_ok_patterns_and_version_line() {
    let log = "test_a (m.C) ... System check identified no issues (0 silenced)\nok\n\
               test_b (m.C) ... Internal Server Error: /x/\nok\n--version is equivalent to version\n";
    let m = LogParser::Django.parse(log);
    assert_eq!(m.get("test_a (m.C)"), Some(&Passed));
    assert_eq!(m.get("test_b (m.C)"), Some(&Passed));
    assert_eq!(m.get("--version is equivalent to version"), Some(&Passed));
}

#[test]
fn every_verified_repo_has_a_parser() {
    for (repo, p) in [
        ("django/django", LogParser::Django),
        ("sympy/sympy", LogParser::Sympy),
        ("astropy/astropy", LogParser::PytestV2),
        ("scikit-learn/scikit-learn", LogParser::PytestV2),
        ("sphinx-doc/sphinx", LogParser::PytestV2),
        ("matplotlib/matplotlib", LogParser::Matplotlib),
        ("mwaskom/seaborn", LogParser::Seaborn),
        ("psf/requests", LogParser::PytestOptions),
        ("pylint-dev/pylint", LogParser::PytestOptions),
        ("pydata/xarray", LogParser::Pytest),
        ("pytest-dev/pytest", LogParser::Pytest),
        ("pallets/flask", LogParser::Pytest),
    ] {
        assert_eq!(parser_for_repo(repo), Some(p), "{repo}");
    }
    assert_eq!(parser_for_repo("nobody/nothing"), None);
}

#[test]
fn sphinx_tox_output_around_pytest() {
    // tox prints its own lines around pytest's; only pytest's count.
    let log = "py39: commands[0]> python -X dev -m pytest -rA --durations 25 tests/test_ext.py\n\
               ============================= test session starts ==============================\n\
               PASSED tests/test_ext.py::test_one\n\
               FAILED tests/test_ext.py::test_two - AssertionError: x - y\n\
               py39: exit 1 (0.52 seconds) /testbed> python -X dev -m pytest -rA pid=110\n\
               py39: FAIL code 1 (0.60=setup[0.08]+cmd[0.52] seconds)\n  evaluation failed :( (0.65 seconds)\n";
    let m = LogParser::PytestV2.parse(log);
    assert_eq!(m, map(&[("tests/test_ext.py::test_one", Passed), ("tests/test_ext.py::test_two", Failed)]));
}
