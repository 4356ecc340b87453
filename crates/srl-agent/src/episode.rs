//! The loop: render the prompt, ask the policy, parse, run the call, record the step, until an exit.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use srl_core::prompt::render_observation;
use srl_core::text::truncate_middle;
use srl_core::{
    ActionKind, Instance, Message, PromptConfig, Step, ToolCall, Trajectory, parse_completion, render_prompt,
};
use srl_sandbox::Container;

use crate::env::Environment;
use crate::error::AgentError;
use crate::policy::{AgentPolicy, PolicyRequest, TokenUsage};
use crate::task::{Mode, oracle_files, task_text};

/// How an episode runs. `Default`: the trained prompt (window 2, observations cut to 8000 characters), 75 steps
/// (SWE-smith's limit), 3 format errors in a row, no token or time budget, standard mode, 60 s per command,
/// autosubmit on.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    /// How each context is rendered; must be the configuration the policy was trained with.
    pub prompt: PromptConfig,
    /// Policy calls allowed (format-error turns count: each costs a call).
    pub max_steps: usize,
    /// The episode ends after this many format errors in a row (at least 1).
    pub max_format_errors: usize,
    /// Prompt + completion tokens over all calls (`None`: no limit). Counts the backend does not report are
    /// estimated at 4 characters a token.
    pub max_total_tokens: Option<u64>,
    /// Wall-clock limit of the episode (`None`: no limit). A policy call is cut off when it runs out, and a bash
    /// command gets at most what is left.
    pub time_budget: Option<Duration>,
    pub mode: Mode,
    /// Timeout of each bash command (its process group is killed; the policy sees SWE-agent's timeout message).
    pub exec_timeout: Duration,
    /// When the episode ends without `submit` (limits, budgets, format errors, policy errors), take the diff of
    /// the repository as its patch, as SWE-agent's autosubmission does. `submit` always yields its patch.
    pub autosubmit: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            prompt: PromptConfig::default(),
            max_steps: 75,
            max_format_errors: 3,
            max_total_tokens: None,
            time_budget: None,
            mode: Mode::Standard,
            exec_timeout: Duration::from_secs(60),
            autosubmit: true,
        }
    }
}

impl AgentConfig {
    /// Errs on a value the loop cannot use.
    pub fn validate(&self) -> Result<(), AgentError> {
        if self.max_format_errors == 0 {
            return Err(AgentError::Config("max_format_errors must be at least 1".into()));
        }
        if self.exec_timeout.is_zero() {
            return Err(AgentError::Config("exec_timeout must be positive".into()));
        }
        Ok(())
    }
}

/// Why an episode ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ExitReason {
    /// The policy called `submit`.
    Submitted,
    /// `max_steps` policy calls were made.
    StepLimit,
    /// `max_total_tokens` was reached.
    TokenBudget,
    /// `time_budget` ran out.
    TimeBudget,
    /// `max_format_errors` completions in a row were not one well-formed (and, in oracle mode, allowed) call.
    FormatErrors,
    /// The policy failed (model error, endpoint down after retries, no script).
    PolicyError { message: String },
    /// The sandbox failed (Docker); not a failing command, which is an observation.
    SandboxError { message: String },
}

impl ExitReason {
    /// `submitted`, `step_limit`, `token_budget`, `time_budget`, `format_errors`, `policy_error`, `sandbox_error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExitReason::Submitted => "submitted",
            ExitReason::StepLimit => "step_limit",
            ExitReason::TokenBudget => "token_budget",
            ExitReason::TimeBudget => "time_budget",
            ExitReason::FormatErrors => "format_errors",
            ExitReason::PolicyError { .. } => "policy_error",
            ExitReason::SandboxError { .. } => "sandbox_error",
        }
    }
}

impl std::fmt::Display for ExitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitReason::PolicyError { message } | ExitReason::SandboxError { message } => {
                write!(f, "{}: {message}", self.as_str())
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

/// Tokens an episode used (sums over its policy calls).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenTotals {
    pub prompt: u64,
    pub completion: u64,
    /// Some count was not reported by the backend and was estimated (4 characters a token).
    pub estimated: bool,
}

impl TokenTotals {
    pub fn total(&self) -> u64 {
        self.prompt + self.completion
    }

    fn add(&mut self, usage: TokenUsage, messages: &[Message], completion: &str) {
        let estimate = |chars: usize| chars.div_ceil(4) as u64;
        self.prompt += usage.prompt.unwrap_or_else(|| {
            self.estimated = true;
            estimate(messages.iter().map(|m| m.content.chars().count()).sum())
        });
        self.completion += usage.completion.unwrap_or_else(|| {
            self.estimated = true;
            estimate(completion.chars().count())
        });
    }
}

/// One policy call of an episode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// 0-based call index.
    pub turn: usize,
    /// The raw completion.
    pub completion: String,
    pub usage: TokenUsage,
    /// Index into the trajectory's steps of the action it ran (`None` for a format error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_index: Option<usize>,
    /// What was wrong with the completion (`None` when it ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_error: Option<String>,
}

/// A finished episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// The canonical trajectory: the task as the policy saw it, one step per action that ran, the patch,
    /// `model` and `exit_status`. Format-error turns are not steps (see [`Episode::turns`]).
    pub trajectory: Trajectory,
    /// From `submit`; otherwise the repository's diff at the end when `autosubmit` (empty string: no change).
    pub patch: Option<String>,
    pub exit: ExitReason,
    /// Policy calls made (format-error turns included).
    pub steps: usize,
    /// Format errors in all (not only the last run of them).
    pub format_errors: usize,
    pub tokens: TokenTotals,
    /// Wall-clock time of the episode.
    pub seconds: f64,
    /// Every policy call with its raw completion, in order.
    pub turns: Vec<Turn>,
}

/// How [`Episode::write_trajectory`] writes the trajectory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrajectoryFormat {
    /// One canonical JSON line (`srl-swe data import`'s output format).
    #[default]
    Canonical,
    /// A SWE-smith XML chat record (pretty JSON), as `srl-swe sandbox record` writes.
    SweSmith,
}

impl Episode {
    /// Appends the trajectory to `out` as one canonical JSON line (srl-data's JSON Lines writer); the importer
    /// reads it back unchanged.
    pub fn write_canonical_line(&self, out: &mut dyn Write) -> std::io::Result<()> {
        srl_data::jsonl::write_line(out, &self.trajectory)
    }

    /// Writes the trajectory to `path` (`-`: stdout) in `format`, creating parent folders.
    pub fn write_trajectory(&self, path: &Path, format: TrajectoryFormat) -> Result<(), AgentError> {
        let io = |source| AgentError::Io { path: path.to_path_buf(), source };
        let mut out = srl_data::jsonl::open_write(path)?;
        match format {
            TrajectoryFormat::Canonical => self.write_canonical_line(&mut out).map_err(io)?,
            TrajectoryFormat::SweSmith => {
                let rec = srl_data::swe_smith::to_record(&self.trajectory);
                let text = serde_json::to_string_pretty(&rec).map_err(|e| io(e.into()))? + "\n";
                out.write_all(text.as_bytes()).map_err(io)?;
            }
        }
        out.flush().map_err(io)
    }
}

/// What the loop reports as it goes (for live output; the [`Episode`] holds all of it at the end).
#[derive(Clone, Debug, PartialEq)]
pub enum StepEvent {
    /// The task text is ready; the first call follows.
    Started { instance_id: String, model: String, mode: Mode },
    /// A policy call returned.
    Completion { turn: usize, text: String, usage: TokenUsage },
    /// An action ran: the step as recorded (thought, call, observation without prefix) and how the tool ended.
    Action { turn: usize, step_index: usize, step: Step, exit_code: Option<i64>, timed_out: bool, tool_error: bool },
    /// The completion was refused; `observation` is what the policy sees next.
    FormatError { turn: usize, error: String, observation: String, consecutive: usize },
    /// The episode ended.
    Finished { exit: ExitReason, steps: usize, actions: usize, format_errors: usize },
}

/// A refused completion, shown once to the policy in the next context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatRetry {
    /// The raw completion that was refused.
    pub completion: String,
    /// What was wrong with it.
    pub error: String,
}

/// The observation the policy gets after a refused completion: the parser's (or the mode's) error text, then
/// the required format.
pub fn format_error_message(error: &str) -> String {
    format!(
        "Your last output was not run: {error}.\n\
         Reply with your reasoning inside <think>...</think>, then exactly ONE function call in this format, with \
         nothing after it:\n\n<think>\nYour reasoning about what to do next.\n</think>\n\
         <function=example_function_name>\n<parameter=example_parameter_1>value_1</parameter>\n</function>"
    )
}

/// The context of the next call: [`srl_core::render_prompt`] of the task and the steps so far (the bytes the
/// step builder trains on), and after a refused completion that completion (cut like an observation) and the
/// format-error observation as one extra round. As in SWE-agent's requery, only the last refused completion
/// is shown, and it is gone from the context once a call runs.
pub fn turn_prompt(task: &str, steps: &[Step], retry: Option<&FormatRetry>, cfg: &PromptConfig) -> Vec<Message> {
    let mut messages = render_prompt(task, steps, cfg);
    if let Some(r) = retry {
        messages.push(Message::assistant(truncate_middle(&r.completion, cfg.max_observation_chars)));
        messages.push(Message::user(render_observation(&format_error_message(&r.error), 0)));
    }
    messages
}

/// Runs one episode of `policy` on `instance` in `container` (a fresh container of the instance's image: the
/// repository at the base commit, which `submit` diffs against). `observer` sees each event as it happens.
///
/// Failures of the policy or the sandbox end the episode with an exit reason; `Err` only for an unusable
/// configuration.
pub async fn run_episode(
    policy: &dyn AgentPolicy,
    container: &Container,
    instance: &Instance,
    cfg: &AgentConfig,
    observer: &mut dyn FnMut(&StepEvent),
) -> Result<Episode, AgentError> {
    if !instance.base_commit.is_empty() {
        container.configure_tools(|t| t.base_commit = Some(instance.base_commit.clone()));
    }
    run_episode_in(policy, container, instance, cfg, observer).await
}

/// [`run_episode`] in any [`Environment`] (a fake one in tests).
pub async fn run_episode_in(
    policy: &dyn AgentPolicy,
    env: &dyn Environment,
    instance: &Instance,
    cfg: &AgentConfig,
    observer: &mut dyn FnMut(&StepEvent),
) -> Result<Episode, AgentError> {
    cfg.validate()?;
    let start = Instant::now();
    let deadline = cfg.time_budget.map(|b| start + b);
    let model = policy.model_name();
    let mut run = Run {
        steps: Vec::new(),
        turns: Vec::new(),
        tokens: TokenTotals::default(),
        format_errors: 0,
        patch: None,
        deadline,
    };
    let (task, setup_error) = match cfg.mode {
        Mode::Standard => (task_text(instance, cfg.mode, &[]), None),
        Mode::OracleEdit => match oracle_files(env, instance).await {
            Ok(files) => (task_text(instance, cfg.mode, &files), None),
            Err(e) => (task_text(instance, Mode::Standard, &[]), Some(format!("oracle files: {e}"))),
        },
    };
    observer(&StepEvent::Started { instance_id: instance.instance_id.clone(), model: model.clone(), mode: cfg.mode });
    let exit = match setup_error {
        Some(message) => ExitReason::SandboxError { message },
        None => run.drive(policy, env, instance, &task, cfg, observer).await,
    };
    if run.patch.is_none() && cfg.autosubmit && exit != ExitReason::Submitted {
        match env.diff().await {
            Ok(p) => run.patch = Some(p),
            Err(e) => {
                tracing::warn!(instance = %instance.instance_id, error = %e, "no patch at the end of the episode")
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    tracing::info!(
        instance = %instance.instance_id,
        exit = %exit,
        turns = run.turns.len(),
        actions = run.steps.len(),
        format_errors = run.format_errors,
        tokens = run.tokens.total(),
        seconds,
        "episode finished"
    );
    observer(&StepEvent::Finished {
        exit: exit.clone(),
        steps: run.turns.len(),
        actions: run.steps.len(),
        format_errors: run.format_errors,
    });
    let trajectory = Trajectory {
        instance_id: instance.instance_id.clone(),
        task,
        steps: run.steps,
        patch: run.patch.clone(),
        resolved: None,
        source_format: "canonical".into(),
        source: String::new(),
        model: Some(model),
        exit_status: Some(exit.as_str().to_string()),
    };
    Ok(Episode {
        trajectory,
        patch: run.patch,
        exit,
        steps: run.turns.len(),
        format_errors: run.format_errors,
        tokens: run.tokens,
        seconds,
        turns: run.turns,
    })
}

/// The state of an episode in progress.
struct Run {
    steps: Vec<Step>,
    turns: Vec<Turn>,
    tokens: TokenTotals,
    format_errors: usize,
    patch: Option<String>,
    /// When the episode's time budget runs out.
    deadline: Option<Instant>,
}

/// Extra time a tool call gets over its command timeout before the sandbox counts as stuck.
const TOOL_GRACE: Duration = Duration::from_secs(60);

impl Run {
    async fn drive(
        &mut self,
        policy: &dyn AgentPolicy,
        env: &dyn Environment,
        instance: &Instance,
        task: &str,
        cfg: &AgentConfig,
        observer: &mut dyn FnMut(&StepEvent),
    ) -> ExitReason {
        let deadline = self.deadline;
        let remaining = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let mut retry: Option<FormatRetry> = None;
        let mut consecutive = 0usize;
        loop {
            let turn = self.turns.len();
            if turn >= cfg.max_steps {
                return ExitReason::StepLimit;
            }
            if cfg.max_total_tokens.is_some_and(|m| self.tokens.total() >= m) {
                return ExitReason::TokenBudget;
            }
            if remaining().is_some_and(|r| r.is_zero()) {
                return ExitReason::TimeBudget;
            }
            let messages = turn_prompt(task, &self.steps, retry.as_ref(), &cfg.prompt);
            let request = PolicyRequest {
                instance_id: &instance.instance_id,
                turn,
                messages: &messages,
                prefill: &cfg.prompt.prefill,
            };
            let reply = match remaining() {
                Some(left) => match tokio::time::timeout(left, policy.complete(request)).await {
                    Ok(r) => r,
                    Err(_) => return ExitReason::TimeBudget,
                },
                None => policy.complete(request).await,
            };
            let reply = match reply {
                Ok(r) => r,
                Err(e) => return ExitReason::PolicyError { message: e.to_string() },
            };
            self.tokens.add(reply.usage, &messages, &reply.text);
            observer(&StepEvent::Completion { turn, text: reply.text.clone(), usage: reply.usage });
            let mut record =
                Turn { turn, completion: reply.text, usage: reply.usage, step_index: None, format_error: None };
            if cfg.max_total_tokens.is_some_and(|m| self.tokens.total() > m) {
                // Over budget with this call: it is recorded but not run.
                self.turns.push(record);
                return ExitReason::TokenBudget;
            }
            let parsed = parse(&record.completion, cfg.mode);
            let (thought, call) = match parsed {
                Ok(x) => x,
                Err(error) => {
                    consecutive += 1;
                    self.format_errors += 1;
                    let observation = format_error_message(&error);
                    tracing::debug!(turn, %error, consecutive, "format error");
                    observer(&StepEvent::FormatError { turn, error: error.clone(), observation, consecutive });
                    record.format_error = Some(error.clone());
                    retry = Some(FormatRetry { completion: record.completion.clone(), error });
                    self.turns.push(record);
                    if consecutive >= cfg.max_format_errors {
                        return ExitReason::FormatErrors;
                    }
                    continue;
                }
            };
            consecutive = 0;
            retry = None;
            let timeout = remaining().map_or(cfg.exec_timeout, |r| r.min(cfg.exec_timeout));
            let ran = tokio::time::timeout(timeout + TOOL_GRACE, env.run(&call, timeout)).await;
            let obs = match ran {
                Ok(Ok(o)) => o,
                Ok(Err(message)) => {
                    self.turns.push(record);
                    return ExitReason::SandboxError { message };
                }
                Err(_) => {
                    self.turns.push(record);
                    let message = format!("`{}` did not return within {:?}", call.name(), timeout + TOOL_GRACE);
                    return ExitReason::SandboxError { message };
                }
            };
            // Canonical observations are empty when nothing was printed (render_observation shows the
            // no-output sentence for them, as it does for blank text).
            let observation = if obs.text.trim().is_empty() { String::new() } else { obs.text };
            let submitted = call.kind() == ActionKind::Submit;
            let step = Step { thought, action: call, observation };
            let step_index = self.steps.len();
            observer(&StepEvent::Action {
                turn,
                step_index,
                step: step.clone(),
                exit_code: obs.exit_code,
                timed_out: obs.timed_out,
                tool_error: obs.error,
            });
            self.steps.push(step);
            record.step_index = Some(step_index);
            self.turns.push(record);
            if submitted {
                self.patch = Some(obs.patch.unwrap_or_default());
                return ExitReason::Submitted;
            }
        }
    }
}

/// The thought and call of a completion, or what is wrong with it (the parser's error text, or the mode's).
fn parse(completion: &str, mode: Mode) -> Result<(String, ToolCall), String> {
    if completion.trim().is_empty() {
        return Err("the completion is empty".into());
    }
    let (thought, call) = parse_completion(completion).map_err(|e| e.to_string())?;
    match mode.refuse(&call) {
        Some(why) => Err(why),
        None => Ok((thought, call)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_round_follows_the_trained_prompt() {
        let cfg = PromptConfig::default();
        let steps = [Step { thought: "t".into(), action: ToolCall::bash("ls"), observation: "a".into() }];
        let plain = turn_prompt("task", &steps, None, &cfg);
        assert_eq!(plain, render_prompt("task", &steps, &cfg));
        let retry = FormatRetry { completion: "oops".into(), error: "no function call found".into() };
        let m = turn_prompt("task", &steps, Some(&retry), &cfg);
        assert_eq!(m[..plain.len()], plain[..]);
        assert_eq!(m.len(), plain.len() + 2);
        assert_eq!(m[plain.len()], Message::assistant("oops"));
        assert!(m[plain.len() + 1].content.starts_with("OBSERVATION:\nYour last output was not run: no function"));
    }

    #[test]
    fn parse_reports_the_parser_and_mode_errors() {
        assert_eq!(parse("  \n", Mode::Standard).unwrap_err(), "the completion is empty");
        assert_eq!(parse("hello", Mode::Standard).unwrap_err(), "the completion does not start with `<think>`");
        let bash = "<think>x</think>\n<function=bash>\n<parameter=command>ls</parameter>\n</function>";
        assert_eq!(parse(bash, Mode::Standard).unwrap().1, ToolCall::bash("ls"));
        assert!(parse(bash, Mode::OracleEdit).unwrap_err().contains("oracle"));
    }

    #[test]
    fn exit_reasons_serialize_with_their_names() {
        let e = ExitReason::PolicyError { message: "down".into() };
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"reason":"policy_error","message":"down"}"#);
        assert_eq!(serde_json::to_string(&ExitReason::StepLimit).unwrap(), r#"{"reason":"step_limit"}"#);
        assert_eq!(e.to_string(), "policy_error: down");
    }
}
