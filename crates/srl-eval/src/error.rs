//! The library's error type: an `Err` means bad input files or failed I/O, never a failed test.

use std::path::PathBuf;

/// Errors of srl-eval. Test failures, invalid logs and patches that do not apply are report fields, not errors.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON or JSONL input that does not parse; `at` names the line (`line 3`) or item (`item 2`, `key "x"`).
    #[error("{path}: {at}: {message}")]
    Parse { path: PathBuf, at: String, message: String },
    #[error("{0}")]
    Dataset(String),
    #[error("unknown log format {0:?} (known: pytest, pytest-v2, pytest-options, django, sympy, matplotlib, seaborn)")]
    UnknownLogFormat(String),
    #[error("no environment facts for {repo} {version}")]
    NoEnvFacts { repo: String, version: String },
}

impl EvalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io { path: path.into(), source }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, at: impl Into<String>, message: impl ToString) -> Self {
        EvalError::Parse { path: path.into(), at: at.into(), message: message.to_string() }
    }
}

/// Parses JSON Lines (blank lines skipped); an error names the file and the line.
pub(crate) fn parse_json_lines<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &std::path::Path,
) -> Result<Vec<T>, EvalError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(line).map_err(|e| EvalError::parse(path, format!("line {}", n + 1), e))?);
    }
    Ok(out)
}
