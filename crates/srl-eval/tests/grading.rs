//! Grading rules, mirroring SWE-bench's `grading.py` (5.x by default, 4.x on request).

use srl_eval::TestStatus::{self, Error, Failed, Passed, Skipped, Xfail};
use srl_eval::{
    GoldTests, GradingConfig, LogError, LogParser, Markers, ResolvedStatus, SkippedRule, StatusMap, grade_log,
    grade_tests,
};

fn map(entries: &[(&str, TestStatus)]) -> StatusMap {
    entries.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

fn gold(f2p: &[&str], p2p: &[&str]) -> GoldTests {
    GoldTests {
        fail_to_pass: f2p.iter().map(|s| s.to_string()).collect(),
        pass_to_pass: p2p.iter().map(|s| s.to_string()).collect(),
        ..GoldTests::default()
    }
}

fn v(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

#[test]
fn full_partial_no() {
    let cfg = GradingConfig::default();
    let g = gold(&["f1", "f2"], &["p1"]);
    let full = grade_tests(&map(&[("f1", Passed), ("f2", Xfail), ("p1", Passed)]), &g, &cfg);
    assert_eq!(full.fail_to_pass.success, v(&["f1", "f2"]));
    assert_eq!(full.resolution(), ResolvedStatus::Full);
    let partial = grade_tests(&map(&[("f1", Passed), ("f2", Failed), ("p1", Passed)]), &g, &cfg);
    assert_eq!((partial.fail_to_pass.failure.clone(), partial.resolution()), (v(&["f2"]), ResolvedStatus::Partial));
    let broke_p2p = grade_tests(&map(&[("f1", Passed), ("f2", Passed), ("p1", Error)]), &g, &cfg);
    assert_eq!(broke_p2p.pass_to_pass.failure, v(&["p1"]));
    assert_eq!(broke_p2p.resolution(), ResolvedStatus::No);
    let none = grade_tests(&map(&[("f1", Failed), ("f2", Error), ("p1", Passed)]), &g, &cfg);
    assert_eq!(none.resolution(), ResolvedStatus::No);
    // No FAIL_TO_PASS at all counts as all passed (SWE-bench's rate of an empty list is 1).
    assert_eq!(grade_tests(&map(&[("p1", Passed)]), &gold(&[], &["p1"]), &cfg).resolution(), ResolvedStatus::Full);
}

#[test]
fn missing_tests_fail() {
    let s = grade_tests(&map(&[("p1", Passed)]), &gold(&["f1"], &["p1", "p2"]), &GradingConfig::default());
    assert_eq!(s.fail_to_pass.failure, v(&["f1"]));
    assert_eq!(s.pass_to_pass.failure, v(&["p2"]));
    assert_eq!(s.resolution(), ResolvedStatus::No);
}

#[test]
fn skipped_fail_to_pass_fails_in_5x_and_is_ignored_in_4x() {
    let m = map(&[("f1", Skipped), ("f2", Passed), ("p1", Skipped)]);
    let g = gold(&["f1", "f2"], &["p1"]);
    let s5 = grade_tests(&m, &g, &GradingConfig::default());
    assert_eq!(s5.fail_to_pass.failure, v(&["f1"]));
    // PASS_TO_PASS skipped is maintained.
    assert_eq!(s5.pass_to_pass.success, v(&["p1"]));
    assert_eq!(s5.resolution(), ResolvedStatus::Partial);
    let s4 = grade_tests(&m, &g, &GradingConfig::swebench_4());
    assert_eq!((s4.fail_to_pass.success.clone(), s4.fail_to_pass.failure.clone()), (v(&["f2"]), v(&[])));
    assert!(s4.pass_to_pass.success.is_empty() && s4.pass_to_pass.failure.is_empty());
    assert_eq!(s4.resolution(), ResolvedStatus::Full, "4.x: skipped tests drop out of the rates");
    let only_skips = map(&[("f1", Skipped), ("f2", Skipped), ("p1", Passed)]);
    assert_eq!(grade_tests(&only_skips, &g, &GradingConfig::default()).resolution(), ResolvedStatus::No);
    let cfg = GradingConfig { skipped: SkippedRule::Ignored, ..GradingConfig::default() };
    assert_eq!(grade_tests(&only_skips, &g, &cfg).resolution(), ResolvedStatus::Full);
}

#[test]
fn truncated_ids_match_by_prefix_when_candidates_agree() {
    // Verified's astropy__astropy-... style id, cut inside its parameter.
    let cut = "astropy/units/tests/test_format.py::test_ogip_grammar_fail[log(photon";
    let agree = map(&[
        (
            "astropy/units/tests/test_format.py::test_ogip_grammar_fail[log(photon /cm**2 /s /Hz) (sin( /pixel /s))]",
            Passed,
        ),
        ("astropy/units/tests/test_format.py::test_ogip_grammar_fail[log(photon /m**2)]", Xfail),
        ("astropy/units/tests/test_format.py::test_other", Failed),
    ]);
    let g = gold(&[cut], &[]);
    assert_eq!(grade_tests(&agree, &g, &GradingConfig::default()).fail_to_pass.success, v(&[cut]));
    let mut disagree = agree.clone();
    disagree.insert("astropy/units/tests/test_format.py::test_ogip_grammar_fail[log(photon x]".into(), Failed);
    assert_eq!(grade_tests(&disagree, &g, &GradingConfig::default()).fail_to_pass.failure, v(&[cut]));
    // 4.x: exact ids only.
    assert_eq!(grade_tests(&agree, &g, &GradingConfig::swebench_4()).fail_to_pass.failure, v(&[cut]));
    // An id with balanced brackets never prefix-matches.
    let whole = gold(&["astropy/units/tests/test_format.py::test_ogip"], &[]);
    assert_eq!(grade_tests(&agree, &whole, &GradingConfig::default()).fail_to_pass.success.len(), 0);
}

#[test]
fn fail_to_fail_and_pass_to_fail_are_graded_like_fail_to_pass() {
    let g = GoldTests { fail_to_fail: v(&["ff"]), pass_to_fail: v(&["pf"]), ..gold(&["f"], &[]) };
    let s = grade_tests(&map(&[("f", Passed), ("ff", Passed), ("pf", Failed)]), &g, &GradingConfig::default());
    assert_eq!((s.fail_to_fail.success.clone(), s.pass_to_fail.failure.clone()), (v(&["ff"]), v(&["pf"])));
    assert_eq!(s.resolution(), ResolvedStatus::Full, "F2F and P2F never decide resolution");
}

fn wrap(body: &str, exit: i32) -> String {
    format!("+ git status\n>>>>> Start Test Output\n{body}\n>>>>> End Test Output\n>>>>> Test Exit Code: {exit}\n")
}

#[test]
fn nonzero_exit_without_failures_rejects_the_log() {
    let g = gold(&["t.py::f"], &[]);
    let fake = wrap("PASSED t.py::f", 1);
    let out = grade_log(&fake, LogParser::Pytest, &g, &Markers::default(), &GradingConfig::default());
    assert_eq!(out.log_error, Some(LogError::ExitCodeMismatch(1)));
    assert!(!out.resolved() && out.tests_status.is_none());
    let report = out.to_report();
    assert!(report.patch_exists && !report.patch_successfully_applied && !report.resolved);
    // 4.x trusts the log.
    let out4 = grade_log(&fake, LogParser::Pytest, &g, &Markers::default(), &GradingConfig::swebench_4());
    assert!(out4.resolved());
    // A real failure explains the exit code.
    let real = wrap("PASSED t.py::f\nFAILED t.py::other - boom", 1);
    let out = grade_log(&real, LogParser::Pytest, &g, &Markers::default(), &GradingConfig::default());
    assert_eq!((out.log_error.clone(), out.resolution), (None, ResolvedStatus::Full));
    let ok = grade_log(&wrap("PASSED t.py::f", 0), LogParser::Pytest, &g, &Markers::default(), &Default::default());
    assert!(ok.resolved() && ok.to_report().patch_successfully_applied);
}

#[test]
fn logs_without_markers_or_results_are_invalid() {
    let g = gold(&["t.py::f"], &[]);
    let m = Markers::default();
    let cfg = GradingConfig::default();
    let out = grade_log("PASSED t.py::f\n", LogParser::Pytest, &g, &m, &cfg);
    assert_eq!(out.log_error, Some(LogError::MissingMarkers));
    let out = grade_log(&wrap("collected 0 items", 4), LogParser::Pytest, &g, &m, &cfg);
    assert_eq!(out.log_error, Some(LogError::NoTestResults));
    let out = grade_log(&format!("{}\n>>>>> Tests Timed Out", wrap("", 0)), LogParser::Pytest, &g, &m, &cfg);
    assert_eq!(out.log_error, Some(LogError::TestsTimedOut));
    // 4.x: no results is a valid log in which every test is missing.
    let out = grade_log(&wrap("collected 0 items", 4), LogParser::Pytest, &g, &m, &GradingConfig::swebench_4());
    assert_eq!(out.log_error, None);
    assert_eq!(out.tests_status.unwrap().fail_to_pass.failure, v(&["t.py::f"]));
}

#[test]
fn results_outside_the_markers_are_a_fallback() {
    // 5.x: when nothing parses between the markers, the whole log is parsed (stdout/stderr ordering).
    let log = "PASSED t.py::f\n>>>>> Start Test Output\n>>>>> End Test Output\n>>>>> Test Exit Code: 0\n";
    let out = grade_log(log, LogParser::Pytest, &gold(&["t.py::f"], &[]), &Markers::default(), &Default::default());
    assert!(out.resolved());
}

#[test]
fn grades_the_real_fixture_logs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let log = std::fs::read_to_string(dir.join("pytest_ra.log")).unwrap();
    let t = |s: &str| format!("tests/test_sample.py::{s}");
    let g = GoldTests {
        fail_to_pass: vec![t("test_pass"), t("test_xfail"), t("test_param[3-5]")],
        pass_to_pass: vec![t("test_param[1-2]"), t("test_skip")],
        ..GoldTests::default()
    };
    let out = grade_log(&log, LogParser::Pytest, &g, &Markers::default(), &GradingConfig::default());
    let s = out.tests_status.clone().unwrap();
    assert_eq!(s.fail_to_pass.success, vec![t("test_pass"), t("test_xfail")]);
    assert_eq!(s.fail_to_pass.failure, vec![t("test_param[3-5]")]);
    // -rA names no skipped test, so a skipped PASS_TO_PASS test is missing there; the classic -vv style names it.
    assert_eq!(s.pass_to_pass.failure, vec![t("test_skip")]);
    assert_eq!(out.resolution, ResolvedStatus::No);
    let classic = std::fs::read_to_string(dir.join("pytest_classic_vv.log")).unwrap();
    let out = grade_log(&classic, LogParser::PytestV2, &g, &Markers::default(), &GradingConfig::default());
    assert_eq!(out.tests_status.unwrap().pass_to_pass.success, vec![t("test_param[1-2]"), t("test_skip")]);
    assert_eq!(out.resolution, ResolvedStatus::Partial);

    let django = std::fs::read_to_string(dir.join("django.log")).unwrap();
    let c = |n: &str| format!("{n} (app_tests.tests.SampleTests.{n})");
    let g = GoldTests {
        fail_to_pass: vec![c("test_ok"), c("test_expected_failure"), c("test_prints_output")],
        pass_to_pass: vec![
            c("test_skipped"),
            "A test with a multi-line docstring: unittest prints its first line.".into(),
        ],
        ..GoldTests::default()
    };
    let out = grade_log(&django, LogParser::Django, &g, &Markers::default(), &GradingConfig::default());
    assert_eq!(out.log_error, None);
    assert_eq!(out.resolution, ResolvedStatus::Full);
}
