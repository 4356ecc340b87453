//! Grading: a parsed status map against an instance's FAIL_TO_PASS / PASS_TO_PASS lists, by SWE-bench's rules.

use serde::{Deserialize, Serialize};
use srl_core::Instance;

use crate::log::{LogError, Markers, extract_test_output};
use crate::parse::LogParser;
use crate::report::{InstanceReport, ResolvedStatus, TestBucket, TestsStatus};
use crate::status::{StatusMap, TestStatus};

/// How a skipped FAIL_TO_PASS (and FAIL_TO_FAIL, PASS_TO_FAIL) test counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkippedRule {
    /// 5.x: a skipped test is a failure (a patch that makes every F2P test skip resolves nothing).
    #[default]
    Failure,
    /// 4.x: a skipped test lands in neither `success` nor `failure`, so it does not count at all.
    Ignored,
}

/// The grading rules. `Default` is SWE-bench 5.x; [`GradingConfig::swebench_4`] reproduces the 4.x harness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradingConfig {
    /// Skipped FAIL_TO_PASS tests: failure (5.x, default) or ignored (4.x). PASS_TO_PASS skipped is always maintained
    /// under 5.x; under `Ignored` it lands in neither list, as in 4.x.
    pub skipped: SkippedRule,
    /// Match an expected id that is cut inside a parameter (`[` outnumbers `]`) by prefix when every candidate agrees
    /// on pass vs fail (5.x; default true).
    pub prefix_match_truncated: bool,
    /// Reject a log whose test command exited non-zero while no parsed test failed or errored (5.x; default true).
    pub reject_exit_code_mismatch: bool,
    /// When nothing parses between the markers, parse the whole log (5.x; default true).
    pub fallback_to_whole_log: bool,
    /// A log from which no test parses at all is invalid rather than "every test missing" (5.x; default true).
    pub empty_is_invalid: bool,
}

impl Default for GradingConfig {
    fn default() -> Self {
        GradingConfig::swebench_5()
    }
}

impl GradingConfig {
    /// The rules of `swebench` 5.x (the default).
    pub fn swebench_5() -> Self {
        GradingConfig {
            skipped: SkippedRule::Failure,
            prefix_match_truncated: true,
            reject_exit_code_mismatch: true,
            fallback_to_whole_log: true,
            empty_is_invalid: true,
        }
    }

    /// The rules of `swebench` 4.x, which most published numbers used.
    pub fn swebench_4() -> Self {
        GradingConfig {
            skipped: SkippedRule::Ignored,
            prefix_match_truncated: false,
            reject_exit_code_mismatch: false,
            fallback_to_whole_log: false,
            empty_is_invalid: false,
        }
    }
}

srl_core::choice_enum! {
    /// The grading rules by the harness version that used them (`--grading`): [`GradingConfig`] via
    /// [`Grading::config`].
    #[derive(Default)]
    pub enum Grading: "grading" {
        /// `swebench` 5.x (the default).
        #[default]
        V5 = "5.x" | "5",
        /// `swebench` 4.x.
        V4 = "4.x" | "4",
    }
}

impl Grading {
    /// The rules of this version.
    pub fn config(self) -> GradingConfig {
        match self {
            Grading::V5 => GradingConfig::swebench_5(),
            Grading::V4 => GradingConfig::swebench_4(),
        }
    }
}

impl From<Grading> for GradingConfig {
    fn from(g: Grading) -> GradingConfig {
        g.config()
    }
}

/// The expected test lists of an instance. FAIL_TO_FAIL and PASS_TO_FAIL are empty for SWE-bench's datasets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldTests {
    pub fail_to_pass: Vec<String>,
    pub pass_to_pass: Vec<String>,
    #[serde(default)]
    pub fail_to_fail: Vec<String>,
    #[serde(default)]
    pub pass_to_fail: Vec<String>,
}

impl GoldTests {
    pub fn from_instance(instance: &Instance) -> GoldTests {
        GoldTests {
            fail_to_pass: instance.fail_to_pass.clone(),
            pass_to_pass: instance.pass_to_pass.clone(),
            ..GoldTests::default()
        }
    }
}

/// The status-map entry for an expected id: exact, or (5.x) by prefix for an id truncated inside `[...]` when all
/// candidates agree on pass vs fail.
pub fn resolve_status(case: &str, map: &StatusMap, prefix_match: bool) -> Option<TestStatus> {
    if let Some(&s) = map.get(case) {
        return Some(s);
    }
    if !prefix_match || case.matches('[').count() <= case.matches(']').count() {
        return None;
    }
    let candidates = map.range::<str, _>((std::ops::Bound::Included(case), std::ops::Bound::Unbounded));
    let mut first: Option<TestStatus> = None;
    let mut agree = true;
    for (_, &s) in candidates.take_while(|(k, _)| k.starts_with(case)) {
        match first {
            None => first = Some(s),
            Some(f) if f.is_pass() != s.is_pass() => agree = false,
            Some(_) => {}
        }
    }
    if agree { first } else { None }
}

enum Verdict {
    Success,
    Failure,
    Neither,
}

fn check(case: &str, map: &StatusMap, cfg: &GradingConfig, maintained: bool) -> Verdict {
    match resolve_status(case, map, cfg.prefix_match_truncated) {
        None => Verdict::Failure,
        Some(s) if s.is_pass() => Verdict::Success,
        Some(TestStatus::Skipped) if maintained && cfg.skipped == SkippedRule::Failure => Verdict::Success,
        Some(TestStatus::Skipped) if cfg.skipped == SkippedRule::Failure => Verdict::Failure,
        Some(TestStatus::Skipped) => Verdict::Neither,
        Some(_) => Verdict::Failure,
    }
}

fn bucket(cases: &[String], map: &StatusMap, cfg: &GradingConfig, maintained: bool) -> TestBucket {
    let mut b = TestBucket::default();
    for case in cases {
        match check(case, map, cfg, maintained) {
            Verdict::Success => b.success.push(case.clone()),
            Verdict::Failure => b.failure.push(case.clone()),
            Verdict::Neither => {}
        }
    }
    b
}

/// SWE-bench's `get_eval_tests_report`: each expected test into `success` or `failure`. FAIL_TO_PASS, FAIL_TO_FAIL
/// and PASS_TO_FAIL succeed when passed or xfail; PASS_TO_PASS also when skipped (5.x).
pub fn grade_tests(map: &StatusMap, gold: &GoldTests, cfg: &GradingConfig) -> TestsStatus {
    TestsStatus {
        fail_to_pass: bucket(&gold.fail_to_pass, map, cfg, false),
        pass_to_pass: bucket(&gold.pass_to_pass, map, cfg, true),
        fail_to_fail: bucket(&gold.fail_to_fail, map, cfg, false),
        pass_to_fail: bucket(&gold.pass_to_fail, map, cfg, false),
    }
}

/// The outcome of grading one log.
#[derive(Clone, Debug, PartialEq)]
pub struct GradeOutcome {
    /// What the parser found (empty when the log is invalid before parsing).
    pub status_map: StatusMap,
    /// The test command's exit code as recorded after the end marker.
    pub exit_code: Option<i32>,
    /// Why the log has no valid result; `None` when it does.
    pub log_error: Option<LogError>,
    /// Present iff the log is valid.
    pub tests_status: Option<TestsStatus>,
    pub resolution: ResolvedStatus,
}

impl GradeOutcome {
    pub fn resolved(&self) -> bool {
        self.resolution == ResolvedStatus::Full
    }

    /// SWE-bench's report for a prediction with a patch whose eval log this is: `patch_successfully_applied` iff
    /// the log is valid, `tests_status` iff it is valid.
    pub fn to_report(&self) -> InstanceReport {
        InstanceReport {
            patch_is_none: false,
            patch_exists: true,
            patch_successfully_applied: self.log_error.is_none(),
            resolved: self.resolved(),
            tests_status: self.tests_status.clone(),
        }
    }
}

/// Grades one eval log: failure markers, the start/end markers, parse, the 5.x checks, then the test lists.
pub fn grade_log(
    log: &str,
    parser: LogParser,
    gold: &GoldTests,
    markers: &Markers,
    cfg: &GradingConfig,
) -> GradeOutcome {
    let invalid = |map: StatusMap, exit_code, e: LogError| {
        tracing::debug!(error = %e, "log has no valid test result");
        GradeOutcome {
            status_map: map,
            exit_code,
            log_error: Some(e),
            tests_status: None,
            resolution: ResolvedStatus::No,
        }
    };
    let out = match extract_test_output(log, markers) {
        Ok(out) => out,
        Err(e) => return invalid(StatusMap::new(), None, e),
    };
    let mut map = parser.parse(out.section);
    if map.is_empty() && cfg.fallback_to_whole_log {
        map = parser.parse(log);
    }
    if map.is_empty() && cfg.empty_is_invalid {
        return invalid(map, out.exit_code, LogError::NoTestResults);
    }
    if cfg.reject_exit_code_mismatch
        && let Some(code) = out.exit_code.filter(|&c| c != 0)
        && !map.is_empty()
        && !map.values().any(|s| s.is_fail())
    {
        return invalid(map, out.exit_code, LogError::ExitCodeMismatch(code));
    }
    let tests = grade_tests(&map, gold, cfg);
    let resolution = tests.resolution();
    GradeOutcome { status_map: map, exit_code: out.exit_code, log_error: None, tests_status: Some(tests), resolution }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grading_versions_name_their_rules() {
        assert_eq!("5".parse::<Grading>().unwrap().config(), GradingConfig::swebench_5());
        assert_eq!(GradingConfig::from("4.x".parse::<Grading>().unwrap()), GradingConfig::swebench_4());
        assert_eq!(Grading::default().to_string(), "5.x");
        let e = "3.x".parse::<Grading>().unwrap_err().to_string();
        assert_eq!(e, "unknown grading \"3.x\": expected `5.x` or `4.x`");
    }
}
