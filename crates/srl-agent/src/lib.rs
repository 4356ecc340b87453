//! The agent loop: a policy acting in a sandbox, with the prompts it was trained on.
//!
//! Each turn renders the context with [`srl_core::render_prompt`] (the function the step builder in srl-data
//! uses for training examples), asks an [`AgentPolicy`] for a completion, parses `<think>` + one call with
//! [`srl_core::parse_completion`], runs the call with the sandbox's SWE-agent tools, and records the
//! [`srl_core::Step`] as the importers would. It stops on `submit`, a step limit, a token or time budget, repeated
//! format errors, or a failure of the policy or the sandbox ([`ExitReason`]).
//!
//! * [`episode`]: [`AgentConfig`], [`run_episode`] (a container) / [`run_episode_in`] (any [`Environment`]),
//!   [`turn_prompt`] (render_prompt plus the requery round), [`Episode`], [`StepEvent`],
//!   [`Episode::write_trajectory`].
//! * [`policy`]: the [`AgentPolicy`] trait (object-safe: `model_name`, `complete(PolicyRequest)`); backends
//!   `CandlePolicy` (srl-policy, local; the `candle` cargo feature), [`OpenAiPolicy`] (chat completions over
//!   `http://` or `https://`), [`ScriptedPolicy`] (replays trajectories); [`build_policy`] makes one from a spec
//!   string ([`PolicySpec`]).
//! * [`task`]: the task text per [`Mode`] (standard, or oracle file edit).
//! * [`env`](mod@env): the [`Environment`] trait the loop runs actions in ([`srl_sandbox::Container`] implements it).
//! * [`bench`](mod@bench): the agent on a benchmark ([`run_bench`]: episode, files, grading through srl-eval,
//!   resume) and the episode files ([`write_episode`], [`BenchLayout`]).
//!
//! ```no_run
//! # use srl_sandbox::Container;
//! # async fn f(container: &Container, instance: &srl_core::Instance) -> Result<(), srl_agent::AgentError> {
//! use srl_agent::{AgentConfig, PolicyBuildOptions, StepEvent, build_policy, run_episode, write_episode};
//! let policy = build_policy("scripted:tasks/confparse/trajectory.json", &PolicyBuildOptions::default())?;
//! let ep = run_episode(&*policy, container, instance, &AgentConfig::default(), &mut |_e: &StepEvent| {}).await?;
//! write_episode(&ep, std::path::Path::new("out/confparse"))?; // trajectory.jsonl + episode.json
//! # Ok(()) }
//! ```
//!
//! # Policy spec strings (`--policy X`)
//!
//! * `MODEL_DIR` (anything else): `CandlePolicy`, srl-policy's `Policy` with its chat template, sampled on a
//!   `spawn_blocking` thread. A Hugging Face folder, a PEFT adapter folder (base from `adapter_config.json`), a
//!   trainer export holding `model/` or `adapter/`, or a repo id of the local Hugging Face cache, all resolved by
//!   `srl_policy::TrainedModel`; [`PolicyBuildOptions::adapter`] adds an adapter explicitly. Call `t` samples with
//!   seed `seed + t`; prompts over `max_prompt_tokens` (8192) lose their oldest history rounds first. Needs the
//!   `candle` feature; without it such a spec is an error saying so.
//! * `http://HOST:PORT/v1` or `https://HOST/v1`: [`OpenAiPolicy`]. `model` (`--model NAME`) is required;
//!   `api_key_env` names the variable holding the key (`Authorization: Bearer`); temperature, top_p (when below 1),
//!   max_tokens and seed (+ turn) are sent; 300 s per request; 4 retries with exponential backoff (1 s doubling,
//!   capped at 30 s) on 5xx, 408, 429, timeouts, connection errors and unparsable replies, then `policy_error`
//!   naming the URL, the attempts and the last error; other 4xx fail at once. TLS is rustls with the webpki and
//!   system roots; a private CA is trusted through [`OpenAiOptions::ca_cert`] or the environment variable
//!   `SRL_CA_CERT` ([`CA_CERT_ENV`], a PEM file). Reasoning a server split off (`reasoning_content`, `reasoning`)
//!   is put back inside `<think>`.
//! * `scripted:PATH`: [`ScriptedPolicy`], the trajectories in PATH (any format srl-data reads, one per instance):
//!   call `t` is step `t` as `<think>\n{thought}\n</think>\n{call}`, then `submit` forever.
//!
//! [`AgentPolicy::model_name`] (SWE-bench's `model_name_or_path`) is the model folder as given, the served model
//! name, or `scripted:PATH`.
//!
//! # Exits, format errors, the oracle mode
//!
//! Exit reasons (`Episode.exit`, also the trajectory's `exit_status`): `submitted`, `step_limit`, `token_budget`
//! (prompt + completion tokens over all calls; counts a backend does not report are estimated at 4 characters a
//! token and `tokens.estimated` is set; the call that crosses the budget is recorded, not run), `time_budget`
//! (checked before each call; a policy call is cut off when it runs out; a bash command gets
//! `min(exec_timeout, time left)`), `format_errors`, `policy_error`, `sandbox_error` (Docker failed, a tool did not
//! return within its timeout + 60 s, or the oracle files could not be read). A failing command or a refused edit is
//! an observation, never an exit. Without `submit`, `autosubmit` takes the repository's diff against the base
//! commit as the patch (SWE-agent's autosubmission).
//!
//! A completion that is not `<think>...</think>` + exactly one call, an empty one, or in oracle mode a call other
//! than `str_replace_editor str_replace` / `submit`, is a format error: nothing runs, and the next context is the
//! trained prompt plus one extra round, the refused completion (cut like an observation) and
//! `OBSERVATION:\nYour last output was not run: <the parser's error>.` with the required format. As in SWE-agent's
//! requery only the last refused completion is shown, and the round is gone once a call runs.
//!
//! In oracle file edit mode ([`Mode::OracleEdit`], SRL paper) the task is the issue, then `<oracle_files>` with
//! the base-commit contents of each file the gold patch changes or deletes ([`gold_patch_files`], read from the
//! container by [`oracle_files`]), then the instruction to use `str_replace` edits only and `submit`.
//!
//! # Invariants
//!
//! * **Same bytes as training.** Every context is `srl_core::render_prompt(task, steps, cfg.prompt)`; the only
//!   addition is the one requery round after a format error (tested against `srl_data::trajectory_examples` for
//!   every bundled trajectory, windows 2 and all, and for the requests an OpenAI endpoint receives).
//! * **The trajectory is canonical.** `trajectory.steps` holds exactly the actions that ran, in the importers' form
//!   (observation raw, no prefix, empty when nothing was printed), so the canonical and SWE-smith writers and the
//!   importer round-trip it; format-error turns, raw completions and token counts live in `Episode.turns`.
//! * **Failures are exits, not errors.** Policy and sandbox failures end the episode with the turns so far kept;
//!   [`run_episode`] returns `Err` only for an unusable [`AgentConfig`].
//! * **No candle or Docker of its own.** Candle comes through srl-policy behind the `candle` feature (without it
//!   the crate and its tests build with no candle at all), Docker through srl-sandbox; the loop sees only the
//!   [`AgentPolicy`] and [`Environment`] traits (fakes in tests).

pub mod bench;
#[cfg(feature = "candle")]
pub mod candle;
pub mod env;
pub mod episode;
mod error;
pub mod openai;
pub mod policy;
pub mod scripted;
pub mod spec;
pub mod task;

pub use bench::{
    Agent, BenchEvent, BenchLayout, BenchOptions, BenchRun, EpisodeNote, Verdict, run_agent, run_bench, write_episode,
};
#[cfg(feature = "candle")]
pub use candle::{CandleOptions, CandlePolicy};
pub use env::Environment;
pub use episode::{
    AgentConfig, Episode, ExitReason, FormatRetry, StepEvent, TokenTotals, TrajectoryFormat, Turn,
    format_error_message, run_episode, run_episode_in, turn_prompt,
};
pub use error::AgentError;
pub use openai::{CA_CERT_ENV, OpenAiOptions, OpenAiPolicy};
pub use policy::{AgentPolicy, PolicyError, PolicyReply, PolicyRequest, TokenUsage};
pub use scripted::{ScriptedPolicy, render_completion};
#[cfg(feature = "candle")]
pub use spec::load_candle;
pub use spec::{PolicyBuildOptions, PolicySpec, build_policy};
pub use task::{Mode, OracleFile, gold_patch_files, oracle_files, task_text};
