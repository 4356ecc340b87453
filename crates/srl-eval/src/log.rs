//! The test-output markers of the eval script and the validity checks on a log before it is parsed.

use serde::{Deserialize, Serialize};

/// The strings the eval script prints around the test command and after it. The defaults are SWE-bench 5.x's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Markers {
    /// Printed just before the test command: `>>>>> Start Test Output`.
    pub start: String,
    /// Printed just after it: `>>>>> End Test Output`.
    pub end: String,
    /// Printed after the end marker, followed by `: <code>`: `>>>>> Test Exit Code`.
    pub exit_code: String,
}

/// SWE-bench's marker for a model patch that did not apply (written by the run loop into the log).
pub const APPLY_PATCH_FAIL: &str = ">>>>> Patch Apply Failed";
/// SWE-bench's marker for a patch that applied.
pub const APPLY_PATCH_PASS: &str = ">>>>> Applied Patch";
pub const RESET_FAILED: &str = ">>>>> Reset Failed";
pub const TESTS_ERROR: &str = ">>>>> Tests Errored";
pub const TESTS_TIMEOUT: &str = ">>>>> Tests Timed Out";

impl Default for Markers {
    fn default() -> Self {
        Markers {
            start: ">>>>> Start Test Output".into(),
            end: ">>>>> End Test Output".into(),
            exit_code: ">>>>> Test Exit Code".into(),
        }
    }
}

/// Why a log has no valid test result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogError {
    #[error("the log says the patch failed to apply")]
    PatchApplyFailed,
    #[error("the log says resetting the repository failed")]
    ResetFailed,
    #[error("the log says the tests errored")]
    TestsErrored,
    #[error("the log says the tests timed out")]
    TestsTimedOut,
    #[error("the log lacks the start and/or end test-output markers")]
    MissingMarkers,
    #[error("the log shows no test result")]
    NoTestResults,
    #[error("the test command exited with {0} but the log shows no failing test")]
    ExitCodeMismatch(i32),
}

/// The part of a log between the markers, and the recorded exit code of the test command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestOutput<'a> {
    pub section: &'a str,
    pub exit_code: Option<i32>,
}

/// Checks a log for SWE-bench's failure markers and slices out the test output (between the first start marker
/// and the first end marker after it). The exit code is read after the end marker only, so that a test cannot fake it.
pub fn extract_test_output<'a>(log: &'a str, markers: &Markers) -> Result<TestOutput<'a>, LogError> {
    for (marker, err) in [
        (APPLY_PATCH_FAIL, LogError::PatchApplyFailed),
        (RESET_FAILED, LogError::ResetFailed),
        (TESTS_ERROR, LogError::TestsErrored),
        (TESTS_TIMEOUT, LogError::TestsTimedOut),
    ] {
        if log.contains(marker) {
            return Err(err);
        }
    }
    let start = log.find(&markers.start).ok_or(LogError::MissingMarkers)?;
    let body_start = start + markers.start.len();
    let end_rel = log[body_start..].find(&markers.end).ok_or(LogError::MissingMarkers)?;
    let section = &log[body_start..body_start + end_rel];
    let after = &log[body_start + end_rel + markers.end.len()..];
    Ok(TestOutput { section, exit_code: parse_exit_code(after, &markers.exit_code) })
}

/// The number after the first `<marker>:` in `text`.
pub fn parse_exit_code(text: &str, marker: &str) -> Option<i32> {
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        if let Some(v) = rest.strip_prefix(':') {
            let v = v.trim_start_matches([' ', '\t']);
            let end = v
                .char_indices()
                .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
                .map_or(v.len(), |(i, _)| i);
            if let Ok(code) = v[..end].parse() {
                return Some(code);
            }
        }
    }
    None
}

/// The last `n` lines of a long message (a failed build's output, a grading error), joined with ` | `: what a
/// one-line progress report shows of it.
pub fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// A failed build's or grading's message in one line: the cause where pip states one (the lines under `The
/// conflict is caused by:`, else its last `No matching distribution found for ...`; its closing line only says
/// `ResolutionImpossible`), else, for an sdist that did not build (pip's closing `note: This is an issue with the
/// package mentioned above, not pip.`), the last Python exception line of its output (`ImportError: cannot import
/// name 'Feature' ...`), else the last two lines (see [`tail_lines`]).
pub fn error_summary(s: &str) -> String {
    if let Some((_, rest)) = s.rsplit_once("The conflict is caused by:") {
        let cause: Vec<&str> =
            rest.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
        if !cause.is_empty() {
            return format!("pip: {}", cause.join("; "));
        }
    }
    if let Some(line) = s.lines().rev().find(|l| l.contains("No matching distribution found for ")) {
        return line.trim().to_string();
    }
    if s.contains("This is an issue with the package mentioned above, not pip") {
        let exception = regex::Regex::new(r"^[A-Za-z_][\w.]*(Error|Exception|Exit): ").expect("a valid pattern");
        if let Some(line) = s.lines().map(str::trim).rev().find(|l| exception.is_match(l)) {
            return format!("sdist build failed: {line}");
        }
    }
    tail_lines(s, 2)
}

/// The first sign in a test log or a command's output that it wanted the network (a name lookup or a connection
/// that failed): containers here have none, SWE-bench's have.
pub fn network_failure(log: &str) -> Option<&'static str> {
    [
        "Temporary failure in name resolution",
        "Name or service not known",
        "Network is unreachable",
        "NewConnectionError",
        "Max retries exceeded with url",
    ]
    .into_iter()
    .find(|m| log.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_summaries_name_pips_cause() {
        let conflict = "+ pip install -r r.txt\nERROR: Cannot install x because these package versions have \
conflicting dependencies.\n\nThe conflict is caused by:\n    The user requested astroid==3.0.0a9\n    The user \
requested (constraint) astroid==3.0.0a6\n\nTo fix this you could try to:\n1. loosen\n\nERROR: ResolutionImpossible: see";
        assert_eq!(
            error_summary(conflict),
            "pip: The user requested astroid==3.0.0a9; The user requested (constraint) astroid==3.0.0a6"
        );
        let missing = "Collecting a\nERROR: No matching distribution found for MarkupSafe==2.1.1\nexit 1";
        assert_eq!(error_summary(missing), "ERROR: No matching distribution found for MarkupSafe==2.1.1");
        assert_eq!(error_summary("a\nb\nc"), "b | c");
        let sdist = "  Running setup.py\n      Traceback (most recent call last):\n      ImportError: cannot import \
name 'Feature' from 'setuptools'\n      [end of output]\n  note: This error originates from a subprocess\nERROR: \
Failed building wheel\nnote: This is an issue with the package mentioned above, not pip.\nhint: See above for details.";
        assert_eq!(
            error_summary(sdist),
            "sdist build failed: ImportError: cannot import name 'Feature' from 'setuptools'"
        );
        let no_exception = "error: metadata-generation-failed\nnote: This is an issue with the package mentioned \
above, not pip.\nhint: See above for details.";
        assert_eq!(
            error_summary(no_exception),
            "note: This is an issue with the package mentioned above, not pip. | hint: See above for details."
        );
    }

    #[test]
    fn tails_of_messages() {
        assert_eq!(tail_lines("a\nb\nc\n\n", 2), "b | c");
        assert_eq!(tail_lines("only", 2), "only");
        assert_eq!(tail_lines("", 2), "");
    }

    #[test]
    fn slices_between_markers() {
        let m = Markers::default();
        let log = "noise\n+ : '>>>>> Start Test Output'\nPASSED a\n+ : '>>>>> End Test Output'\n+ echo '>>>>> Test Exit Code: 3'\n>>>>> Test Exit Code: 3\n";
        let out = extract_test_output(log, &m).unwrap();
        assert_eq!(out.section, "'\nPASSED a\n+ : '");
        assert_eq!(out.exit_code, Some(3));
        assert_eq!(extract_test_output("PASSED a", &m), Err(LogError::MissingMarkers));
        assert_eq!(extract_test_output(">>>>> Start Test Output\nPASSED a", &m), Err(LogError::MissingMarkers));
        assert_eq!(extract_test_output(">>>>> Tests Timed Out", &m), Err(LogError::TestsTimedOut));
    }

    #[test]
    fn exit_code_only_after_end_marker() {
        let m = Markers::default();
        let log = ">>>>> Start Test Output\n>>>>> Test Exit Code: 0\nPASSED a\n>>>>> End Test Output\n";
        assert_eq!(extract_test_output(log, &m).unwrap().exit_code, None);
        assert_eq!(parse_exit_code("x: >>>>> Test Exit Code: -9\n", ">>>>> Test Exit Code"), Some(-9));
        assert_eq!(parse_exit_code(">>>>> Test Exit Code: $X\n", ">>>>> Test Exit Code"), None);
    }
}
