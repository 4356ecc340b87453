//! Parsers for the test logs that SWE-bench's Python repositories print, one per log format, and the map from a
//! repository to its parser.
//!
//! Each parser follows the public `swebench` harness's parser of the same name (5.x), so that ids match the ids in the
//! datasets' FAIL_TO_PASS / PASS_TO_PASS lists. Deliberate differences, all of which only add information:
//! ANSI colour codes are stripped for every pytest format; `XPASS` lines parse as passed (pytest exits 0 on a
//! non-strict xpass) where the harness drops them; a trailing ` - message` is cut from every pytest summary line
//! (not only FAILED) of the v2 format, but never inside `[...]`; Django's `expected failure` parses as xfail and
//! `unexpected success` as failed; sympy's `f`, `s` and `X` parse as xfail, skipped and passed, and the file verdict
//! (`[OK]`/`[FAIL]`) after a file's last test is dropped so that test counts; a pytest status word counts only when a
//! space follows it; the "old pytest" `id STATUS` form needs `::` in the id and also takes a
//! ` (reason)` or `[ NN%]` suffix.

use std::sync::LazyLock;

use regex::Regex;

use crate::error::EvalError;
use crate::status::{StatusMap, TestStatus};

/// A log format. The names (`as_str`/`from_name`) are what environment specs use as `log_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogParser {
    /// pytest `-rA` short summary, the id is the first word after the status (flask, xarray, pytest, astroid, ...).
    Pytest,
    /// pytest, later and older versions: whole ids with spaces, ANSI codes stripped, and the verbose/classic
    /// `path::test STATUS` lines (astropy, scikit-learn, sphinx).
    PytestV2,
    /// pytest with absolute paths in parameters shortened to their last component (requests, pylint, pydicom).
    PytestOptions,
    /// Django's test runner at verbosity 2.
    Django,
    /// sympy's `bin/test --verbose`.
    Sympy,
    /// pytest with `MouseButton.LEFT`/`RIGHT` normalised to `1`/`3`.
    Matplotlib,
    /// seaborn's pytest output (`--no-header -rA`).
    Seaborn,
}

impl LogParser {
    pub const ALL: [LogParser; 7] = [
        LogParser::Pytest,
        LogParser::PytestV2,
        LogParser::PytestOptions,
        LogParser::Django,
        LogParser::Sympy,
        LogParser::Matplotlib,
        LogParser::Seaborn,
    ];

    /// The log_format name: "pytest", "pytest-v2", "pytest-options", "django", "sympy", "matplotlib", "seaborn".
    pub fn as_str(self) -> &'static str {
        match self {
            LogParser::Pytest => "pytest",
            LogParser::PytestV2 => "pytest-v2",
            LogParser::PytestOptions => "pytest-options",
            LogParser::Django => "django",
            LogParser::Sympy => "sympy",
            LogParser::Matplotlib => "matplotlib",
            LogParser::Seaborn => "seaborn",
        }
    }

    /// Reads a log_format name; also accepts `_` for `-` and SWE-bench's parser names for one repository
    /// (`astropy`, `scikit`, `sphinx`, `requests`, `pylint`, `pydicom`, `flask`, `xarray`, ...).
    pub fn from_name(name: &str) -> Result<LogParser, EvalError> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        let n = n.strip_prefix("parse-log-").unwrap_or(&n);
        Ok(match n {
            "pytest" | "flask" | "xarray" | "astroid" | "marshmallow" | "pvlib" | "pyvista" | "sqlfluff" => {
                LogParser::Pytest
            }
            "pytest-v2" | "astropy" | "scikit" | "scikit-learn" | "sphinx" => LogParser::PytestV2,
            "pytest-options" | "requests" | "pylint" | "pydicom" => LogParser::PytestOptions,
            "django" => LogParser::Django,
            "sympy" => LogParser::Sympy,
            "matplotlib" => LogParser::Matplotlib,
            "seaborn" => LogParser::Seaborn,
            _ => return Err(EvalError::UnknownLogFormat(name.to_string())),
        })
    }

    /// Parses a log (normally the part between the markers) into test id -> status.
    pub fn parse(self, log: &str) -> StatusMap {
        match self {
            LogParser::Pytest => parse_pytest(log, |id| id.to_string()),
            LogParser::PytestV2 => parse_pytest_v2(log),
            LogParser::PytestOptions => parse_pytest(log, shorten_path_option),
            LogParser::Django => parse_django(log),
            LogParser::Sympy => parse_sympy(log),
            LogParser::Matplotlib => {
                let log = log.replace("MouseButton.LEFT", "1").replace("MouseButton.RIGHT", "3");
                parse_pytest(&log, |id| id.to_string())
            }
            LogParser::Seaborn => parse_seaborn(log),
        }
    }
}

impl std::fmt::Display for LogParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LogParser {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogParser::from_name(s)
    }
}

/// The parser SWE-bench uses for a repository (`owner/name`), or `None` for a repository it does not know.
pub fn parser_for_repo(repo: &str) -> Option<LogParser> {
    Some(match repo {
        "astropy/astropy" | "scikit-learn/scikit-learn" | "sphinx-doc/sphinx" => LogParser::PytestV2,
        "django/django" => LogParser::Django,
        "sympy/sympy" => LogParser::Sympy,
        "matplotlib/matplotlib" => LogParser::Matplotlib,
        "mwaskom/seaborn" => LogParser::Seaborn,
        "psf/requests" | "pylint-dev/pylint" | "pydicom/pydicom" => LogParser::PytestOptions,
        "pallets/flask"
        | "pydata/xarray"
        | "pytest-dev/pytest"
        | "pylint-dev/astroid"
        | "marshmallow-code/marshmallow"
        | "pvlib/pvlib-python"
        | "pyvista/pyvista"
        | "sqlfluff/sqlfluff" => LogParser::Pytest,
        _ => return None,
    })
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap());

/// Removes ANSI escape sequences and the other control characters (except tab), as the v2 parser does.
pub fn strip_ansi(line: &str) -> String {
    let s = ANSI.replace_all(line, "");
    s.chars().filter(|&c| c == '\t' || !c.is_control()).collect()
}

/// The pytest status words a summary line may start with.
/// `FAIL` and `SKIP` are pytest 3.x's short-summary spellings (old astropy images).
const PYTEST_WORDS: [&str; 8] = ["PASSED", "FAILED", "FAIL", "SKIPPED", "SKIP", "ERROR", "XFAIL", "XPASS"];

/// `(status word, rest)` when the line starts with a pytest status word and a space.
fn split_status(line: &str) -> Option<(&str, &str)> {
    let (word, rest) = line.split_once(' ')?;
    PYTEST_WORDS.contains(&word).then_some((word, rest))
}

/// pytest's `SKIPPED [N] path:line: reason` summary, where `[N]` is a count, not a test.
fn is_skip_count(word: &str, first: &str) -> bool {
    matches!(word, "SKIPPED" | "SKIP") && first.len() > 2 && first.starts_with('[') && first.ends_with(']') && {
        first[1..first.len() - 1].bytes().all(|b| b.is_ascii_digit())
    }
}

/// SWE-bench's `parse_log_pytest` (and `_options`, `matplotlib`): the id is the first word after the status.
fn parse_pytest(log: &str, normalise: impl Fn(&str) -> String) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.lines() {
        let line = strip_ansi(raw);
        let Some((word, _)) = split_status(&line) else { continue };
        let line = if word == "FAILED" { line.replace(" - ", " ") } else { line.clone() };
        let mut words = line.split_whitespace().skip(1);
        let Some(id) = words.next() else { continue };
        if is_skip_count(word, id) {
            continue;
        }
        if let Some(status) = TestStatus::from_pytest(word) {
            map.insert(normalise(id), status);
        }
    }
    map
}

/// requests/pylint: `test[/abs/path/to/file]` -> `test[/file]` (not `//...`, not globs).
fn shorten_path_option(id: &str) -> String {
    static OPTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(.*?)\[(.*)\]").unwrap());
    let Some(c) = OPTION.captures(id) else { return id.to_string() };
    let (main, option) = (&c[1], &c[2]);
    if option.starts_with('/') && !option.starts_with("//") && !option.contains('*') {
        format!("{main}[/{}]", option.rsplit('/').next().unwrap_or(option))
    } else {
        format!("{main}[{option}]")
    }
}

/// Cuts pytest's ` - message` from a summary line's id, but not at a ` - ` inside `[...]` parameters.
fn cut_message(rest: &str) -> &str {
    let mut depth = 0i32;
    let bytes = rest.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth -= 1,
            b' ' if depth <= 0 && rest[i..].starts_with(" - ") => return &rest[..i],
            _ => {}
        }
    }
    rest
}

static OLD_STYLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\S.*?::.*?) (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)(?: \(.*\))?(?:\s+\[\s*\d+%\])?\s*$").unwrap()
});

/// SWE-bench's `parse_log_pytest_v2`: summary lines with whole ids, and `path::test STATUS` lines (verbose/classic).
fn parse_pytest_v2(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.lines() {
        let line = strip_ansi(raw);
        if let Some((word, rest)) = split_status(&line) {
            let id = cut_message(rest.trim());
            let first = id.split_whitespace().next().unwrap_or("");
            if id.is_empty() || is_skip_count(word, first) {
                continue;
            }
            let id = id.split_whitespace().collect::<Vec<_>>().join(" ");
            if let Some(status) = TestStatus::from_pytest(word) {
                map.insert(id, status);
            }
        } else if let Some(c) = OLD_STYLE.captures(line.trim_end())
            && let Some(status) = TestStatus::from_pytest(&c[2])
        {
            map.insert(c[1].split_whitespace().collect::<Vec<_>>().join(" "), status);
        }
    }
    map
}

/// SWE-bench's `parse_log_seaborn`: FAILED summary lines, `id PASSED ...` progress lines and PASSED summary lines.
fn parse_seaborn(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.lines() {
        let line = strip_ansi(raw);
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 2 {
            continue;
        }
        if line.starts_with("FAILED") {
            map.insert(parts[1].to_string(), TestStatus::Failed);
        } else if line.contains(" PASSED ") {
            if parts[1] == "PASSED" {
                map.insert(parts[0].to_string(), TestStatus::Passed);
            }
        } else if line.starts_with("PASSED") {
            map.insert(parts[1].to_string(), TestStatus::Passed);
        }
    }
    map
}

static DJANGO_SPLIT_OK: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        Regex::new(r"(?m)^(.*?)\s\.\.\.\sTesting against Django installed in ((?s:.*?)) silenced\)\.\nok$").unwrap(),
        Regex::new(r"(?m)^(.*?)\s\.\.\.\sInternal Server Error: /(.*)/\nok$").unwrap(),
        Regex::new(r"(?m)^(.*?)\s\.\.\.\sSystem check identified no issues \(0 silenced\)\nok$").unwrap(),
    ]
});

/// SWE-bench's `parse_log_django`: `name (module.Class) ... ok|skipped '...'|FAIL|ERROR`, `FAIL:`/`ERROR:` headers,
/// and `ok` on a later line when the test printed something after `...`.
fn parse_django(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    let mut prev_test: Option<String> = None;
    for raw in log.lines() {
        let mut line = raw.trim();
        if line.contains("--version is equivalent to version") {
            map.insert("--version is equivalent to version".to_string(), TestStatus::Passed);
        }
        if let Some((name, _)) = line.split_once(" ... ") {
            prev_test = Some(name.to_string());
        }
        for suffix in [" ... ok", " ... OK", " ...  OK"] {
            if line.ends_with(suffix) {
                // django__django-7188: a migration message precedes the test name on the same line.
                if line.starts_with("Applying sites.0002_alter_domain_unique...test_no_migrations") {
                    line = line.split_once("...").map_or(line, |(_, r)| r.trim());
                }
                let name = &line[..line.rfind(suffix).unwrap_or(line.len())];
                map.insert(name.to_string(), TestStatus::Passed);
                break;
            }
        }
        if let Some((name, _)) = line.split_once(" ... skipped") {
            map.insert(name.to_string(), TestStatus::Skipped);
        }
        if let Some((name, _)) = line.split_once(" ... expected failure") {
            map.insert(name.to_string(), TestStatus::Xfail);
        }
        if let Some((name, _)) = line.split_once(" ... unexpected success") {
            map.insert(name.to_string(), TestStatus::Failed);
        }
        if let Some(name) = line.strip_suffix(" ... FAIL") {
            let name = line.find(" ... FAIL").map_or(name, |i| &line[..i]);
            map.insert(name.to_string(), TestStatus::Failed);
        }
        if line.starts_with("FAIL:")
            && let Some(name) = line.split_whitespace().nth(1)
        {
            map.insert(name.to_string(), TestStatus::Failed);
        }
        if let Some(name) = line.strip_suffix(" ... ERROR") {
            let name = line.find(" ... ERROR").map_or(name, |i| &line[..i]);
            map.insert(name.to_string(), TestStatus::Error);
        }
        if line.starts_with("ERROR:")
            && let Some(name) = line.split_whitespace().nth(1)
        {
            map.insert(name.to_string(), TestStatus::Error);
        }
        if line.starts_with("ok")
            && let Some(prev) = &prev_test
        {
            map.insert(prev.clone(), TestStatus::Passed);
        }
    }
    for re in DJANGO_SPLIT_OK.iter() {
        for c in re.captures_iter(log) {
            map.insert(c[1].to_string(), TestStatus::Passed);
        }
    }
    map
}

static SYMPY_HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(_*) (.*)\.py:(.*) (_*)").unwrap());

/// SWE-bench's `parse_log_sympy`: `___ path.py:test_x ___` failure headers, then `test_x ok|F|E` (and `f`, `s`, `X`).
fn parse_sympy(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for c in SYMPY_HEADER.captures_iter(log) {
        map.insert(format!("{}.py:{}", &c[2], &c[3]), TestStatus::Failed);
    }
    for raw in log.lines() {
        let mut line = raw.trim();
        // The last test of a file carries the file's verdict: `test_x ok     [FAIL]`.
        for verdict in ["[OK]", "[FAIL]"] {
            if let Some(l) = line.strip_suffix(verdict) {
                line = l.trim_end();
            }
        }
        if !line.starts_with("test_") {
            continue;
        }
        let Some(name) = line.split_whitespace().next() else { continue };
        let status = if line.ends_with(" E") {
            TestStatus::Error
        } else if line.ends_with(" F") {
            TestStatus::Failed
        } else if line.ends_with(" ok") || line.ends_with(" X") {
            TestStatus::Passed
        } else if line.ends_with(" f") {
            TestStatus::Xfail
        } else if line.ends_with(" s") {
            TestStatus::Skipped
        } else {
            continue;
        };
        map.insert(name.to_string(), status);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in LogParser::ALL {
            assert_eq!(LogParser::from_name(p.as_str()).unwrap(), p);
        }
        assert_eq!(LogParser::from_name("pytest_v2").unwrap(), LogParser::PytestV2);
        assert_eq!(LogParser::from_name("astropy").unwrap(), LogParser::PytestV2);
        assert!(LogParser::from_name("junit").is_err());
    }

    #[test]
    fn cut_message_respects_brackets() {
        assert_eq!(cut_message("a::t[with - dash] - boom"), "a::t[with - dash]");
        assert_eq!(cut_message("a::t - boom - more"), "a::t");
        assert_eq!(cut_message("a::t"), "a::t");
    }

    #[test]
    fn shortens_absolute_path_options() {
        assert_eq!(shorten_path_option("t.py::test[/a/b/c.txt]"), "t.py::test[/c.txt]");
        assert_eq!(shorten_path_option("t.py::test[//net/share]"), "t.py::test[//net/share]");
        assert_eq!(shorten_path_option("t.py::test[/a/*.py]"), "t.py::test[/a/*.py]");
        assert_eq!(shorten_path_option("t.py::test"), "t.py::test");
    }

    #[test]
    fn pytest_3_summary_words() {
        let log = "FAIL a.py::t1\nSKIP [2] a.py:10: no numpy\nXFAIL a.py::t2\n  reason: bug\nPASSED a.py::t3\n";
        let m = LogParser::PytestV2.parse(log);
        let want: StatusMap =
            [("a.py::t1", TestStatus::Failed), ("a.py::t2", TestStatus::Xfail), ("a.py::t3", TestStatus::Passed)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        assert_eq!(m, want);
        assert_eq!(LogParser::Pytest.parse(log), want);
    }

    #[test]
    fn strips_ansi() {
        assert_eq!(strip_ansi("\x1b[32mPASSED\x1b[0m t.py::a\r"), "PASSED t.py::a");
        assert_eq!(strip_ansi("\x1b[1m\x1b[31mFAILED\x1b[0m x"), "FAILED x");
    }
}
