use std::path::PathBuf;

/// A data error names the file, and the line (JSONL), item (JSON list) or row (Parquet) when it concerns one record.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: invalid JSON: {source}")]
    Json {
        location: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{location}: {message}")]
    Record { location: String, message: String },
    #[error("{path}: not a readable Parquet file: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("{path}: no trajectory files found (looked for .json, .jsonl, .traj, .traj.json)")]
    Empty { path: PathBuf },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
    pub(crate) fn record(location: impl Into<String>, message: impl Into<String>) -> Self {
        DataError::Record { location: location.into(), message: message.into() }
    }
}
