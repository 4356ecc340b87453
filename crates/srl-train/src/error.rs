//! Typed errors of the trainer.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A bad config value or override; the message names the key.
    #[error("config: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("data: {0}")]
    Data(String),
    #[error(transparent)]
    Policy(#[from] srl_policy::PolicyError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl TrainError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io { path: path.to_path_buf(), source }
    }
    pub fn checkpoint(path: &Path, message: impl Into<String>) -> Self {
        TrainError::Checkpoint { path: path.to_path_buf(), message: message.into() }
    }
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;
