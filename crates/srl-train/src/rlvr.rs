//! RLVR's episodes: G episodes of the current policy per task, each in a fresh container through the agent loop
//! `srl-swe eval --policy` runs ([`srl_agent::run_episode`]), each graded by the evaluator's harness; the reward
//! is the graded outcome.
//!
//! The policy is sampled on the trainer's thread while the episodes run on a tokio runtime: every episode asks for
//! its next turn through an [`EpisodePolicy`], and the trainer answers in lockstep rounds ([`serve_turns`]): once
//! every running episode has asked (or ended), their prompts are sampled as one batch. A round's batch is the set
//! of running episodes in episode order, so a run whose episodes all start at once is reproducible.
//!
//! [`EpisodeRunner`] is where episodes run: [`SandboxRunner`] on Docker (srl-agent's loop, srl-eval's
//! [`Harness`]), fakes in tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::{BoxFuture, LocalBoxFuture};
use serde::{Deserialize, Serialize};
use srl_agent::{AgentConfig, AgentPolicy, Episode, ExitReason, PolicyError, PolicyReply, PolicyRequest, TokenUsage};
use srl_core::{Instance, Message};
use srl_eval::{Harness, Prediction};

use crate::config::{RlvrConfig, RlvrReward};

/// The graded outcome of an episode's patch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    pub resolved: bool,
    /// FAIL_TO_PASS tests that pass, of how many.
    pub fail_to_pass: (usize, usize),
    /// PASS_TO_PASS tests that pass, of how many.
    pub pass_to_pass: (usize, usize),
    /// The episode left no patch (not graded, as SWE-bench does).
    pub empty_patch: bool,
    /// Grading could not run to a report (image, container, timeout): the error kind and message. Such episodes
    /// are masked, never scored: the infrastructure failed, not the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An episode as RLVR needs it: how it ended, its size, its patch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeRun {
    /// `None`: no container could start (the message says why); masked.
    pub episode: Option<Episode>,
    pub message: Option<String>,
}

impl EpisodeRun {
    pub fn exit(&self) -> Option<&ExitReason> {
        self.episode.as_ref().map(|e| &e.exit)
    }
}

/// Where RLVR's episodes run and are graded. The futures run on one thread ([`rollouts`] polls them together),
/// so they need not be `Send`.
pub trait EpisodeRunner: Send + Sync {
    /// One episode of `policy` on `instance` in a fresh environment.
    fn episode<'a>(&'a self, instance: &'a Instance, policy: &'a dyn AgentPolicy) -> LocalBoxFuture<'a, EpisodeRun>;

    /// The grading of an episode's patch in another fresh environment.
    fn grade<'a>(&'a self, instance: &'a Instance, patch: &'a str) -> LocalBoxFuture<'a, Grade>;
}

/// Episodes on Docker: the agent loop in a container of the instance's image ([`Harness::in_container`]), the
/// patch graded by [`Harness::evaluate`] (SWE-bench's rules), as `srl-swe eval --policy` does.
pub struct SandboxRunner {
    pub harness: Harness,
    pub agent: AgentConfig,
}

/// `model_name_or_path` of RLVR's predictions.
pub const RLVR_MODEL: &str = "rlvr-policy";

impl EpisodeRunner for SandboxRunner {
    fn episode<'a>(&'a self, instance: &'a Instance, policy: &'a dyn AgentPolicy) -> LocalBoxFuture<'a, EpisodeRun> {
        Box::pin(async move {
            let cfg = &self.agent;
            let placed = self
                .harness
                .in_container(instance, async |c| srl_agent::run_episode(policy, c, instance, cfg, &mut |_| {}).await)
                .await;
            match placed {
                Err((kind, message)) => EpisodeRun { episode: None, message: Some(format!("{kind:?}: {message}")) },
                Ok(p) => match p.value {
                    Ok(ep) => EpisodeRun { episode: Some(ep), message: None },
                    Err(e) => EpisodeRun { episode: None, message: Some(e.to_string()) },
                },
            }
        })
    }

    fn grade<'a>(&'a self, instance: &'a Instance, patch: &'a str) -> LocalBoxFuture<'a, Grade> {
        Box::pin(async move {
            if patch.trim().is_empty() {
                return Grade { empty_patch: true, ..Grade::default() };
            }
            let prediction = Prediction {
                instance_id: instance.instance_id.clone(),
                model_name_or_path: RLVR_MODEL.into(),
                model_patch: Some(patch.to_string()),
            };
            let ev = self.harness.evaluate(instance, &prediction).await;
            if let Some(kind) = ev.error() {
                let message = srl_eval::error_summary(ev.extras.message.as_deref().unwrap_or(""));
                return Grade { error: Some(format!("{kind:?}: {message}")), ..Grade::default() };
            }
            let count = |b: &srl_eval::TestBucket| (b.success.len(), b.success.len() + b.failure.len());
            let status = ev.report.as_ref().and_then(|r| r.tests_status.as_ref());
            Grade {
                resolved: ev.resolved(),
                fail_to_pass: status.map(|s| count(&s.fail_to_pass)).unwrap_or_default(),
                pass_to_pass: status.map(|s| count(&s.pass_to_pass)).unwrap_or_default(),
                empty_patch: false,
                error: None,
            }
        })
    }
}

/// Why an episode's reward is left out: infrastructure failures always, budget cut-offs with `mask_truncated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Masked {
    /// No container, a sandbox or policy error, or a grading error.
    Infrastructure,
    /// Cut off by the step, token or time budget (`rlvr.mask_truncated`).
    Truncated,
}

/// An episode's reward from its exit and grading: `None` when it is masked (see [`Masked`]).
pub fn episode_reward(run: &EpisodeRun, grade: &Grade, cfg: &RlvrConfig) -> Result<f64, Masked> {
    let Some(exit) = run.exit() else { return Err(Masked::Infrastructure) };
    match exit {
        ExitReason::SandboxError { .. } | ExitReason::PolicyError { .. } => return Err(Masked::Infrastructure),
        ExitReason::StepLimit | ExitReason::TokenBudget | ExitReason::TimeBudget if cfg.mask_truncated => {
            return Err(Masked::Truncated);
        }
        _ => {}
    }
    if grade.error.is_some() {
        return Err(Masked::Infrastructure);
    }
    let mut r = if grade.resolved {
        1.0
    } else {
        match cfg.reward {
            RlvrReward::Binary => 0.0,
            RlvrReward::Partial => {
                let ((f, ft), (p, pt)) = (grade.fail_to_pass, grade.pass_to_pass);
                if p == pt && ft > 0 { f as f64 / ft as f64 } else { 0.0 }
            }
        }
    };
    if *exit == ExitReason::FormatErrors {
        r -= cfg.format_error_penalty;
    }
    Ok(r)
}

/// One sampled turn of an episode, as training needs it: the prompt ids exactly as sampled (template, history
/// cut, prefill), the completion's ids and their sampling log-probs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TurnSample {
    pub prompt: Vec<u32>,
    pub completion: Vec<u32>,
    pub logprobs: Vec<f32>,
}

/// A turn an episode waits for.
pub struct PendingTurn {
    pub episode: usize,
    pub messages: Vec<Message>,
    pub prefill: String,
    reply: tokio::sync::oneshot::Sender<Result<PolicyReply, PolicyError>>,
}

enum Msg {
    Turn(PendingTurn),
    /// The episode's agent loop is over (its grading may still run).
    Done(usize),
    /// The episode's grading is over too: its slot takes the next episode.
    Finished,
}

/// The agent policy of one episode: its turns go to the trainer's thread ([`serve_turns`]).
pub struct EpisodePolicy {
    episode: usize,
    name: String,
    tx: Mutex<mpsc::Sender<Msg>>,
    /// Time spent waiting for replies.
    waited: Mutex<Duration>,
}

impl EpisodePolicy {
    pub fn waited(&self) -> Duration {
        *self.waited.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AgentPolicy for EpisodePolicy {
    fn model_name(&self) -> String {
        self.name.clone()
    }

    fn complete<'a>(&'a self, request: PolicyRequest<'a>) -> BoxFuture<'a, Result<PolicyReply, PolicyError>> {
        Box::pin(async move {
            let t = Instant::now();
            let (reply, rx) = tokio::sync::oneshot::channel();
            let turn = PendingTurn {
                episode: self.episode,
                messages: request.messages.to_vec(),
                prefill: request.prefill.to_string(),
                reply,
            };
            let sent = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(Msg::Turn(turn));
            if sent.is_err() {
                return Err(PolicyError::Model("the trainer stopped sampling".into()));
            }
            let r = rx.await.map_err(|_| PolicyError::Model("the trainer dropped this turn".into()))?;
            *self.waited.lock().unwrap_or_else(|e| e.into_inner()) += t.elapsed();
            r
        })
    }
}

/// Sends `Done` when an episode's agent loop is over (or its future is dropped), so the rounds stop waiting for it.
struct DoneGuard(usize, mpsc::Sender<Msg>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.1.send(Msg::Done(self.0));
    }
}

/// A finished (or failed) episode of a rollout: the run, its grading, its timings, and the turns the trainer
/// sampled for it (filled by [`rollouts`]).
#[derive(Clone, Debug)]
pub struct Rollout {
    /// Index of its task in the jobs given to [`rollouts`].
    pub job: usize,
    pub run: EpisodeRun,
    pub grade: Grade,
    pub turns: Vec<TurnSample>,
    /// Wall-clock of the episode, and of it minus waiting for the policy (the sandbox's share).
    pub episode_s: f64,
    pub sandbox_s: f64,
    pub grade_s: f64,
}

/// Wall-clock split of a set of rollouts (the trainer's own sampling time is measured by the caller).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RolloutTimes {
    /// The whole phase, start to last grading.
    pub wall_s: f64,
    /// Time the trainer's thread spent sampling.
    pub sample_s: f64,
}

/// Samples the turns of a round: `(episode, messages, prefill)` in episode order; returns per turn the reply text
/// (prefill included) with its usage and the sample kept for training, or an error for every turn of the round.
pub type SampleRound<'a> =
    dyn FnMut(&[(usize, &[Message], &str)]) -> Result<Vec<(PolicyReply, TurnSample)>, String> + 'a;

/// Runs one episode per job (`jobs[i]` is the instance of episode `i`), `concurrency` at once on `handle`'s
/// runtime, each graded when its loop ends; the turns are sampled on this thread by `sample` in lockstep rounds.
/// Returns the rollouts in job order.
pub fn rollouts(
    handle: &tokio::runtime::Handle,
    runner: &dyn EpisodeRunner,
    jobs: &[&Instance],
    concurrency: usize,
    sample: &mut SampleRound<'_>,
) -> (Vec<Rollout>, RolloutTimes) {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut sample_s = 0.0;
    let mut turns: Vec<Vec<TurnSample>> = vec![Vec::new(); jobs.len()];
    let mut out = std::thread::scope(|s| {
        let worker = s.spawn(move || {
            let tx = tx;
            let futs = jobs.iter().enumerate().map(|(i, inst)| {
                let tx = tx.clone();
                async move {
                    let policy = EpisodePolicy {
                        episode: i,
                        name: RLVR_MODEL.into(),
                        tx: Mutex::new(tx.clone()),
                        waited: Mutex::new(Duration::ZERO),
                    };
                    let tx_done = tx.clone();
                    let done = DoneGuard(i, tx);
                    let t = Instant::now();
                    let run = runner.episode(inst, &policy).await;
                    drop(done);
                    let episode_s = t.elapsed().as_secs_f64();
                    let sandbox_s = (episode_s - policy.waited().as_secs_f64()).max(0.0);
                    drop(policy);
                    let t = Instant::now();
                    let patch = run.episode.as_ref().and_then(|e| e.patch.clone()).unwrap_or_default();
                    let grade = match &run.episode {
                        Some(_) => runner.grade(inst, &patch).await,
                        None => Grade { error: run.message.clone(), ..Grade::default() },
                    };
                    let grade_s = t.elapsed().as_secs_f64();
                    let _ = tx_done.send(Msg::Finished);
                    Rollout { job: i, run, grade, turns: Vec::new(), episode_s, sandbox_s, grade_s }
                }
            });
            let all = futures_util::stream::iter(futs).buffer_unordered(concurrency.max(1)).collect::<Vec<_>>();
            handle.block_on(all)
        });
        serve_turns(rx, jobs.len(), concurrency.max(1), &mut |batch| {
            let t = Instant::now();
            let r = sample(batch);
            sample_s += t.elapsed().as_secs_f64();
            if let Ok(samples) = &r {
                for ((e, _, _), (_, ts)) in batch.iter().zip(samples) {
                    turns[*e].push(ts.clone());
                }
            }
            r.map(|v| v.into_iter().map(|(reply, _)| reply).collect())
        });
        worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    for r in &mut out {
        r.turns = std::mem::take(&mut turns[r.job]);
    }
    out.sort_by_key(|r| r.job);
    (out, RolloutTimes { wall_s: started.elapsed().as_secs_f64(), sample_s })
}

/// [`serve_turns`]' sampler: the replies of a round's turns.
type ServeRound<'a> = dyn FnMut(&[(usize, &[Message], &str)]) -> Result<Vec<PolicyReply>, String> + 'a;

/// The trainer's side of the lockstep rounds: collects turns until every running episode waits for one, then
/// answers them as one batch in episode order. An episode runs from its admission (the first `concurrency` at
/// once, then one per finished episode, in job order) to the end of its agent loop. Returns when every sender is
/// gone.
fn serve_turns(rx: mpsc::Receiver<Msg>, jobs: usize, concurrency: usize, sample: &mut ServeRound<'_>) {
    let (mut done, mut finished) = (0usize, 0usize);
    let mut pending: BTreeMap<usize, PendingTurn> = BTreeMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Done(e) => {
                done += 1;
                // A turn whose episode ended without it (a time budget dropped the request) is answered by no one.
                pending.remove(&e);
            }
            Msg::Finished => finished += 1,
            Msg::Turn(t) => {
                pending.insert(t.episode, t);
            }
        }
        let running = jobs.min(concurrency + finished).saturating_sub(done);
        if pending.is_empty() || pending.len() < running {
            continue;
        }
        let round: Vec<PendingTurn> = std::mem::take(&mut pending).into_values().collect();
        let batch: Vec<(usize, &[Message], &str)> =
            round.iter().map(|t| (t.episode, t.messages.as_slice(), t.prefill.as_str())).collect();
        match sample(&batch) {
            Ok(replies) => {
                for (t, r) in round.into_iter().zip(replies) {
                    let _ = t.reply.send(Ok(r));
                }
            }
            Err(e) => {
                for t in round {
                    let _ = t.reply.send(Err(PolicyError::Model(e.clone())));
                }
            }
        }
    }
}

/// The reply of a sampled turn: the prefill then the completion text, with its token counts.
pub fn reply(prefill: &str, text: &str, prompt_tokens: usize, completion_tokens: usize) -> PolicyReply {
    PolicyReply {
        text: format!("{prefill}{text}"),
        usage: TokenUsage { prompt: Some(prompt_tokens as u64), completion: Some(completion_tokens as u64) },
    }
}

/// The agent's settings of RLVR episodes: the `[data]` prompts, the `[rlvr]` limits, autosubmit on.
pub fn agent_config(prompt: srl_core::PromptConfig, cfg: &RlvrConfig) -> AgentConfig {
    AgentConfig {
        prompt,
        max_steps: cfg.max_turns,
        max_format_errors: cfg.max_format_errors,
        max_total_tokens: (cfg.max_episode_tokens > 0).then_some(cfg.max_episode_tokens),
        time_budget: (cfg.time_budget_s > 0).then(|| Duration::from_secs(cfg.time_budget_s)),
        exec_timeout: Duration::from_secs(cfg.exec_timeout_s),
        ..AgentConfig::default()
    }
}

/// The training and validation tasks out of a dataset: held-out ids (which must exist) for validation, the rest
/// (or `instance_ids`, which must exist and not be held out) for training.
pub fn split_tasks(all: Vec<Instance>, cfg: &RlvrConfig) -> Result<(Vec<Instance>, Vec<Instance>), String> {
    let known = |id: &String| all.iter().any(|i| &i.instance_id == id);
    for (key, ids) in [("rlvr.holdout_ids", &cfg.holdout_ids), ("rlvr.instance_ids", &cfg.instance_ids)] {
        if let Some(bad) = ids.iter().find(|id| !known(id)) {
            return Err(format!("`{key}`: {bad:?} is not a task of {}", cfg.tasks));
        }
    }
    if let Some(both) = cfg.instance_ids.iter().find(|id| cfg.holdout_ids.contains(id)) {
        return Err(format!("`rlvr.instance_ids`: {both:?} is held out (`rlvr.holdout_ids`)"));
    }
    let (valid, rest): (Vec<Instance>, Vec<Instance>) =
        all.into_iter().partition(|i| cfg.holdout_ids.contains(&i.instance_id));
    let train: Vec<Instance> = if cfg.instance_ids.is_empty() {
        rest
    } else {
        rest.into_iter().filter(|i| cfg.instance_ids.contains(&i.instance_id)).collect()
    };
    if train.is_empty() {
        return Err(format!("`rlvr.tasks` {:?}: no training task left", cfg.tasks));
    }
    Ok((train, valid))
}

/// One line of `rollouts.jsonl`: an episode of an RLVR step or validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    pub step: usize,
    /// `"train"` or `"valid"`.
    pub split: String,
    pub instance_id: String,
    /// Its group (task) within the step.
    pub group: usize,
    pub exit: String,
    pub turns: usize,
    pub format_errors: usize,
    pub completion_tokens: usize,
    pub patch_bytes: usize,
    pub grade: Grade,
    /// `None` when masked.
    pub reward: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<Masked>,
    pub episode_s: f64,
    pub grade_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use srl_core::{PromptConfig, ToolCall, Trajectory};

    fn episode(exit: ExitReason) -> EpisodeRun {
        let ep = Episode {
            trajectory: Trajectory {
                instance_id: "a".into(),
                task: String::new(),
                steps: Vec::new(),
                patch: None,
                resolved: None,
                source_format: "canonical".into(),
                source: String::new(),
                model: None,
                exit_status: None,
            },
            patch: Some("diff".into()),
            exit,
            steps: 1,
            format_errors: 0,
            tokens: Default::default(),
            seconds: 0.0,
            turns: Vec::new(),
        };
        EpisodeRun { episode: Some(ep), message: None }
    }

    fn graded(resolved: bool, f2p: (usize, usize), p2p: (usize, usize)) -> Grade {
        Grade { resolved, fail_to_pass: f2p, pass_to_pass: p2p, ..Grade::default() }
    }

    #[test]
    fn rewards_binary_partial_penalty_and_masks() {
        let mut cfg = RlvrConfig::default();
        let sub = episode(ExitReason::Submitted);
        assert_eq!(episode_reward(&sub, &graded(true, (2, 2), (3, 3)), &cfg), Ok(1.0));
        assert_eq!(episode_reward(&sub, &graded(false, (1, 2), (3, 3)), &cfg), Ok(0.0));
        cfg.reward = RlvrReward::Partial;
        assert_eq!(episode_reward(&sub, &graded(false, (1, 4), (3, 3)), &cfg), Ok(0.25));
        // A broken PASS_TO_PASS test: no partial credit.
        assert_eq!(episode_reward(&sub, &graded(false, (3, 4), (2, 3)), &cfg), Ok(0.0));
        assert_eq!(episode_reward(&sub, &Grade { empty_patch: true, ..Grade::default() }, &cfg), Ok(0.0));
        // Format errors: the penalty.
        cfg.format_error_penalty = 0.5;
        let fmt = episode(ExitReason::FormatErrors);
        assert_eq!(episode_reward(&fmt, &Grade { empty_patch: true, ..Grade::default() }, &cfg), Ok(-0.5));
        // Budgets score unless masked.
        let cut = episode(ExitReason::StepLimit);
        assert_eq!(episode_reward(&cut, &graded(false, (0, 1), (1, 1)), &cfg), Ok(0.0));
        cfg.mask_truncated = true;
        assert_eq!(episode_reward(&cut, &graded(false, (0, 1), (1, 1)), &cfg), Err(Masked::Truncated));
        assert_eq!(episode_reward(&episode(ExitReason::TimeBudget), &Grade::default(), &cfg), Err(Masked::Truncated));
        // The infrastructure's failures are never the policy's.
        let err = Grade { error: Some("ImageBuildFailed: x".into()), ..Grade::default() };
        assert_eq!(episode_reward(&sub, &err, &cfg), Err(Masked::Infrastructure));
        let none = EpisodeRun { episode: None, message: Some("no container".into()) };
        assert_eq!(episode_reward(&none, &Grade::default(), &cfg), Err(Masked::Infrastructure));
        let sandbox = episode(ExitReason::SandboxError { message: "gone".into() });
        assert_eq!(episode_reward(&sandbox, &graded(true, (1, 1), (0, 0)), &cfg), Err(Masked::Infrastructure));
    }

    fn inst(id: &str) -> Instance {
        Instance { instance_id: id.into(), ..Instance::default() }
    }

    #[test]
    fn tasks_split_by_holdout_and_selection() {
        let all = vec![inst("a"), inst("b"), inst("c")];
        let mut cfg = RlvrConfig { holdout_ids: vec!["b".into()], ..RlvrConfig::default() };
        let (t, v) = split_tasks(all.clone(), &cfg).unwrap();
        assert_eq!(t.iter().map(|i| i.instance_id.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(v.len(), 1);
        cfg.instance_ids = vec!["c".into()];
        assert_eq!(split_tasks(all.clone(), &cfg).unwrap().0.len(), 1);
        cfg.instance_ids = vec!["zz".into()];
        assert!(split_tasks(all.clone(), &cfg).unwrap_err().contains("rlvr.instance_ids"));
        cfg.instance_ids = vec!["b".into()];
        assert!(split_tasks(all.clone(), &cfg).unwrap_err().contains("held out"));
        cfg.instance_ids.clear();
        cfg.holdout_ids = vec!["a".into(), "b".into(), "c".into()];
        assert!(split_tasks(all, &cfg).unwrap_err().contains("no training task"));
    }

    /// A fake sandbox: each episode calls the policy until it answers `submit` or 4 turns; the patch is the
    /// number of turns; grading resolves patches of "2".
    struct Fake;

    impl EpisodeRunner for Fake {
        fn episode<'a>(
            &'a self,
            instance: &'a Instance,
            policy: &'a dyn AgentPolicy,
        ) -> LocalBoxFuture<'a, EpisodeRun> {
            Box::pin(async move {
                let cfg = AgentConfig { max_steps: 4, ..AgentConfig::default() };
                let env = FakeEnv;
                let ep = srl_agent::run_episode_in(policy, &env, instance, &cfg, &mut |_| {}).await.unwrap();
                EpisodeRun { episode: Some(ep), message: None }
            })
        }
        fn grade<'a>(&'a self, _: &'a Instance, patch: &'a str) -> LocalBoxFuture<'a, Grade> {
            Box::pin(async move { graded(patch == "2", (0, 1), (0, 0)) })
        }
    }

    struct FakeEnv;

    impl srl_agent::Environment for FakeEnv {
        fn run<'a>(
            &'a self,
            call: &'a ToolCall,
            _: Duration,
        ) -> BoxFuture<'a, Result<srl_sandbox::Observation, String>> {
            Box::pin(async move {
                let mut o = srl_sandbox::Observation { text: format!("ran {}", call.name()), ..Default::default() };
                if call.name() == "submit" {
                    o.patch = Some("2".into());
                }
                Ok(o)
            })
        }
        fn diff(&self) -> BoxFuture<'_, Result<String, String>> {
            Box::pin(async { Ok("4".into()) })
        }
        fn read_file<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>> {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    const BASH: &str = "<think>x</think>\n<function=bash>\n<parameter=command>ls</parameter>\n</function>";
    const SUBMIT: &str = "<think>done</think>\n<function=submit>\n</function>";

    #[test]
    fn rounds_batch_every_running_episode_in_order_and_record_turns() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let tasks = [inst("a"), inst("b"), inst("c")];
        let jobs: Vec<&Instance> = tasks.iter().collect();
        let mut rounds: Vec<Vec<usize>> = Vec::new();
        let mut sample = |batch: &[(usize, &[Message], &str)]| {
            rounds.push(batch.iter().map(|b| b.0).collect());
            let r = rounds.len();
            // Episode 0 submits at its 2nd turn, episode 1 at its 3rd, episode 2 never (4 turns, step limit).
            Ok(batch
                .iter()
                .map(|&(e, m, _)| {
                    let text = if (e == 0 && r == 2) || (e == 1 && r == 3) { SUBMIT } else { BASH };
                    assert!(m[0].content.contains("submit"), "the system message with the tools");
                    let ts =
                        TurnSample { prompt: vec![e as u32, r as u32], completion: vec![r as u32], logprobs: vec![] };
                    (reply("", text, 2, 1), ts)
                })
                .collect())
        };
        let (out, times) = rollouts(rt.handle(), &Fake, &jobs, 8, &mut sample);
        assert_eq!(rounds, vec![vec![0, 1, 2], vec![0, 1, 2], vec![1, 2], vec![2]]);
        assert!(times.wall_s >= times.sample_s);
        assert_eq!(out.iter().map(|r| r.job).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(out[0].turns.len(), 2);
        assert_eq!(out[1].turns.len(), 3);
        assert_eq!(out[2].turns.iter().map(|t| t.completion[0]).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(out[0].run.exit(), Some(&ExitReason::Submitted));
        assert_eq!(out[2].run.exit(), Some(&ExitReason::StepLimit));
        // Graded: submit's patch "2" resolves; the step-limited episode's autosubmitted diff does not.
        assert!(out[0].grade.resolved && out[1].grade.resolved && !out[2].grade.resolved);
        let cfg = RlvrConfig::default();
        let rewards: Vec<_> = out.iter().map(|r| episode_reward(&r.run, &r.grade, &cfg)).collect();
        assert_eq!(rewards, [Ok(1.0), Ok(1.0), Ok(0.0)]);
    }

    #[test]
    fn a_failed_round_ends_the_episodes_with_a_policy_error() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let tasks = [inst("a"), inst("b")];
        let jobs: Vec<&Instance> = tasks.iter().collect();
        let mut sample = |_: &[(usize, &[Message], &str)]| Err("out of memory".to_string());
        let (out, _) = rollouts(rt.handle(), &Fake, &jobs, 1, &mut sample);
        for r in &out {
            assert!(
                matches!(r.run.exit(), Some(ExitReason::PolicyError { message }) if message.contains("out of memory"))
            );
            assert_eq!(episode_reward(&r.run, &r.grade, &RlvrConfig::default()), Err(Masked::Infrastructure));
        }
    }

    #[test]
    fn the_agent_config_follows_the_rlvr_section() {
        let cfg = RlvrConfig { max_turns: 7, time_budget_s: 30, max_episode_tokens: 900, ..RlvrConfig::default() };
        let a = agent_config(PromptConfig::default(), &cfg);
        assert_eq!(a.max_steps, 7);
        assert_eq!(a.time_budget, Some(Duration::from_secs(30)));
        assert_eq!(a.max_total_tokens, Some(900));
        assert!(a.autosubmit);
    }
}
