use std::path::PathBuf;

/// What can fail outside an episode: building a policy from its spec, the configuration, writing files.
/// Inside an episode, failures of the policy or the sandbox end it with an exit reason instead
/// ([`crate::ExitReason`]), so that the turns already taken are kept.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A policy spec string or its options are wrong (the message names what and why).
    #[error("policy spec: {0}")]
    Spec(String),
    /// The candle model could not be loaded.
    #[cfg(feature = "candle")]
    #[error("loading the model {path}: {source}")]
    Load {
        path: PathBuf,
        #[source]
        source: Box<srl_policy::PolicyError>,
    },
    /// An [`crate::AgentConfig`] value is unusable.
    #[error("agent config: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Data(#[from] srl_data::DataError),
    /// Writing or grading files of an evaluation run.
    #[error(transparent)]
    Eval(#[from] srl_eval::EvalError),
}
