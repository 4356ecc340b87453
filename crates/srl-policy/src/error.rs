//! Typed errors of the policy crate. Every error about a file names the file.

use std::path::PathBuf;

/// Errors of the policy: files, configs, tokenizers and tensor math.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: missing (expected in a Hugging Face model folder)")]
    MissingFile { path: PathBuf },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: field `{field}`: {message}")]
    BadConfig { path: PathBuf, field: String, message: String },
    #[error("{path}: tensor `{name}` is missing")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` has shape {got:?}, expected {expected:?}")]
    BadShape { path: PathBuf, name: String, expected: Vec<usize>, got: Vec<usize> },
    #[error("{path}: cannot read safetensors: {source}")]
    Safetensors {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
    #[error("{path}: {message}")]
    Gguf { path: PathBuf, message: String },
    #[error("{path}: tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenize(String),
    #[error(
        "model `{repo}` is not a folder and is not in the local Hugging Face cache (looked in {looked_in}); \
         download it first, e.g. `hf download {repo}` (or `huggingface-cli download {repo}`), or pass a folder"
    )]
    NotCached { repo: String, looked_in: String },
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("no reference model: {0}")]
    NoReference(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The crate's result type.
pub type Result<T, E = PolicyError> = std::result::Result<T, E>;

impl PolicyError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            PolicyError::MissingFile { path }
        } else {
            PolicyError::Io { path, source }
        }
    }
    pub(crate) fn bad_config(path: impl Into<PathBuf>, field: &str, message: impl Into<String>) -> Self {
        PolicyError::BadConfig { path: path.into(), field: field.to_string(), message: message.into() }
    }
}

/// Reads a JSON file into `T`, naming the file in any error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| PolicyError::Json { path: path.to_path_buf(), source })
}

/// Writes `value` as pretty JSON with a final newline, atomically ([`srl_core::fs::write_atomic`]).
pub(crate) fn write_json<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<()> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|source| PolicyError::Json { path: path.to_path_buf(), source })?;
    text.push('\n');
    srl_core::fs::write_atomic(path, text.as_bytes()).map_err(|e| PolicyError::io(path, e))
}
