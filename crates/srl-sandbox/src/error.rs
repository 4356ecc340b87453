use std::path::PathBuf;

/// What went wrong in the infrastructure (Docker, the host, a spec file). Commands that fail, time out or print
/// too much, and patches that do not apply, are not errors: they are fields of [`crate::ExecOutput`],
/// [`crate::Observation`] and [`crate::ApplyReport`].
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("Docker daemon unreachable ({0}); is dockerd running and is DOCKER_HOST right?")]
    Unreachable(String),
    #[error("Docker API: {context}: {source}")]
    Docker {
        context: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("git: {context}: {source}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    #[error("{file}: {message}")]
    Spec { file: PathBuf, message: String },
    #[error("image build failed: {0}")]
    Build(String),
    #[error("base commit mismatch for {instance}: built {built}, the dataset says {expected}")]
    BaseCommitMismatch { instance: String, built: String, expected: String },
    #[error("unknown task {0}")]
    UnknownTask(String),
    #[error("no environment spec matches repo {repo} version {version} (looked in {dir})")]
    NoSpec { repo: String, version: String, dir: PathBuf },
    #[error("{0}")]
    Other(String),
}

/// `Result` with [`SandboxError`].
pub type Result<T, E = SandboxError> = std::result::Result<T, E>;

pub(crate) trait Context<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, bollard::errors::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| SandboxError::Docker { context: context(), source })
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| SandboxError::Io { context: context(), source })
    }
}

impl<T> Context<T> for std::result::Result<T, git2::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| SandboxError::Git { context: context(), source })
    }
}
