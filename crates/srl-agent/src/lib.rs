//! The agent loop: a policy acting in a sandbox, with the prompts it was trained on.
//!
//! Each turn renders the context with [`srl_core::render_prompt`] (the function the step builder in srl-data
//! uses for training examples), asks an [`AgentPolicy`] for a completion, parses `<think>` + one call with
//! [`srl_core::parse_completion`], runs the call with the sandbox's SWE-agent tools, and records the
//! [`srl_core::Step`] as the importers would. It stops on `submit`, a step limit, a token or time budget, repeated
//! format errors, or a failure of the policy or the sandbox ([`ExitReason`]).
//!
//! * [`episode`]: [`AgentConfig`], [`run_episode`], [`Episode`], [`StepEvent`].
//! * [`policy`]: the [`AgentPolicy`] trait; backends [`CandlePolicy`] (srl-policy, local), [`OpenAiPolicy`]
//!   (chat-completions over plain HTTP), [`ScriptedPolicy`] (replays trajectories); [`build_policy`] makes one
//!   from a spec string (`MODEL_DIR`, `http://HOST:PORT/v1`, `scripted:PATH`).
//! * [`task`]: the task text per [`Mode`] (standard, or oracle file edit).
//! * [`env`](mod@env): the [`Environment`] trait the loop runs actions in ([`srl_sandbox::Container`] implements it).

pub mod candle;
pub mod env;
pub mod episode;
mod error;
pub mod openai;
pub mod policy;
pub mod scripted;
pub mod spec;
pub mod task;

pub use candle::{CandleOptions, CandlePolicy};
pub use env::Environment;
pub use episode::{
    AgentConfig, Episode, ExitReason, FormatRetry, StepEvent, TokenTotals, TrajectoryFormat, Turn,
    format_error_message, run_episode, run_episode_in, turn_prompt,
};
pub use error::AgentError;
pub use openai::{OpenAiOptions, OpenAiPolicy};
pub use policy::{AgentPolicy, PolicyError, PolicyReply, PolicyRequest, TokenUsage};
pub use scripted::{ScriptedPolicy, render_completion};
pub use spec::{PolicyBuildOptions, PolicySpec, build_policy, load_candle};
pub use task::{Mode, OracleFile, gold_patch_files, oracle_files, task_text};
