//! Test statuses and the map a log parser produces.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The outcome of one test as a log shows it. pytest's XPASS (non-strict) is a pass, so it parses as `Passed`;
/// unittest's "unexpected success" fails the run, so it parses as `Failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TestStatus {
    Passed,
    Failed,
    Skipped,
    Error,
    Xfail,
}

impl TestStatus {
    /// SWE-bench's spelling: PASSED, FAILED, SKIPPED, ERROR, XFAIL.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Passed => "PASSED",
            TestStatus::Failed => "FAILED",
            TestStatus::Skipped => "SKIPPED",
            TestStatus::Error => "ERROR",
            TestStatus::Xfail => "XFAIL",
        }
    }

    /// Reads a pytest status word (`PASSED`, `FAILED`, `FAIL`, `SKIPPED`, `SKIP`, `ERROR`, `XFAIL`, `XPASS`); XPASS is a pass.
    pub fn from_pytest(word: &str) -> Option<TestStatus> {
        Some(match word {
            "PASSED" | "XPASS" => TestStatus::Passed,
            "FAILED" | "FAIL" => TestStatus::Failed,
            "SKIPPED" | "SKIP" => TestStatus::Skipped,
            "ERROR" => TestStatus::Error,
            "XFAIL" => TestStatus::Xfail,
            _ => return None,
        })
    }

    /// Passed or xfail: what FAIL_TO_PASS needs.
    pub fn is_pass(self) -> bool {
        matches!(self, TestStatus::Passed | TestStatus::Xfail)
    }

    /// Failed or error.
    pub fn is_fail(self) -> bool {
        matches!(self, TestStatus::Failed | TestStatus::Error)
    }
}

impl fmt::Display for TestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Test id -> status, as parsed from one log. A later line for the same id overwrites an earlier one (as SWE-bench's
/// parsers do), so pytest's short summary wins over its progress lines.
pub type StatusMap = BTreeMap<String, TestStatus>;
