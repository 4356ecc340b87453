//! The agent on a benchmark (`srl-swe eval --policy`): per instance an episode in a fresh container, its files
//! beside the grading files, then the grading of its patch; the run's predictions and summary at the end.
//!
//! Per instance, in [`BenchLayout`]'s folder (the evaluator's `<run>/<model>/<instance_id>/`):
//! `trajectory.jsonl` (the canonical trajectory, which `srl-swe data import` and `replay` read), `episode.json`
//! (the whole [`Episode`]: exit, every raw turn, tokens), and `prediction.json` (SWE-bench's prediction) last:
//! its presence means the episode is done, and a resumed run skips it. Grading goes through
//! [`Harness::evaluate`] and writes the evaluator's files; a graded instance is skipped unless `rerun`; an empty
//! patch is not graded. After both, the instance is done for the harness's image cache ([`Harness::instance_done`]:
//! its instance image goes when the cache level says so). At the end `<run>/predictions.jsonl` (instance order)
//! and `<run>/summary.json`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use srl_core::Instance;
use srl_eval::{
    ErrorKind, Evaluation, Harness, Prediction, RunLayout, RunSummary, error_summary, summarize_run, write_json_atomic,
    write_jsonl_atomic,
};

use crate::episode::{AgentConfig, Episode, ExitReason, run_episode};
use crate::error::AgentError;
use crate::policy::AgentPolicy;

/// Where a benchmark run puts the agent's files: the evaluator's [`RunLayout`] plus the agent's per-instance
/// files and the run's predictions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchLayout {
    pub run: RunLayout,
}

impl BenchLayout {
    /// SWE-bench's prediction of the instance; written last (its presence means the episode is done).
    pub const PREDICTION_FILE: &'static str = "prediction.json";
    /// The canonical trajectory, one JSON line.
    pub const TRAJECTORY_FILE: &'static str = "trajectory.jsonl";
    /// The [`Episode`] (or, when no container started, why).
    pub const EPISODE_FILE: &'static str = "episode.json";
    /// Every prediction of the run, in instance order, in the run folder.
    pub const PREDICTIONS_FILE: &'static str = "predictions.jsonl";

    pub fn new(run: RunLayout) -> BenchLayout {
        BenchLayout { run }
    }

    /// The instance's folder (shared with the grading files).
    pub fn instance_dir(&self, model: &str, instance_id: &str) -> PathBuf {
        self.run.instance_dir(model, instance_id)
    }

    /// `<run>/predictions.jsonl`.
    pub fn predictions_path(&self) -> PathBuf {
        self.run.run_dir().join(Self::PREDICTIONS_FILE)
    }

    /// The prediction of a finished episode, if any (an unreadable file counts as none: the episode runs again).
    pub fn read_prediction(&self, model: &str, instance_id: &str) -> Option<Prediction> {
        read_prediction(&self.instance_dir(model, instance_id).join(Self::PREDICTION_FILE))
    }
}

fn read_prediction(path: &Path) -> Option<Prediction> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Writes an episode's files into `dir` (created if needed), each atomically: `trajectory.jsonl` (canonical) and
/// `episode.json`.
pub fn write_episode(ep: &Episode, dir: &Path) -> Result<(), AgentError> {
    let path = dir.join(BenchLayout::TRAJECTORY_FILE);
    let mut line = Vec::new();
    ep.write_canonical_line(&mut line).map_err(|source| AgentError::Io { path: path.clone(), source })?;
    srl_core::fs::write_atomic(&path, &line).map_err(|source| AgentError::Io { path, source })?;
    write_json_atomic(&dir.join(BenchLayout::EPISODE_FILE), ep)?;
    Ok(())
}

/// A policy and how it runs: what an episode needs besides the instance and the container.
#[derive(Clone, Copy)]
pub struct Agent<'a> {
    pub policy: &'a dyn AgentPolicy,
    pub config: &'a AgentConfig,
}

/// How an instance's episode went, as the progress line says it.
#[derive(Clone, Debug, PartialEq)]
pub enum EpisodeNote {
    /// A resumed run found its prediction.
    Earlier,
    /// It ran: the exit, the policy calls, the format errors and the patch size.
    Ran { exit: ExitReason, calls: usize, format_errors: usize, patch_bytes: usize },
    /// No container could start (the message of the failure).
    NoEpisode { message: String },
}

impl fmt::Display for EpisodeNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EpisodeNote::Earlier => f.write_str("episode done earlier"),
            EpisodeNote::Ran { exit, calls, format_errors, patch_bytes } => write!(
                f,
                "{} after {calls} calls ({format_errors} format errors), patch of {patch_bytes} bytes",
                exit.as_str()
            ),
            EpisodeNote::NoEpisode { message } => write!(f, "no episode: {}", error_summary(message)),
        }
    }
}

/// How an instance's patch was graded.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// An empty patch is not graded (SWE-bench counts it as an empty patch).
    EmptyPatch,
    /// A resumed run found its report.
    GradedEarlier {
        resolved: bool,
    },
    /// Grading could not run to a report (the evaluator's error kind and message).
    Error {
        kind: ErrorKind,
        message: String,
    },
    Resolved,
    NotResolved,
}

impl Verdict {
    /// The verdict of a grading that ran: its error, else resolved or not.
    pub fn of(ev: &Evaluation) -> Verdict {
        match ev.error() {
            Some(kind) => Verdict::Error { kind: kind.clone(), message: ev.extras.message.clone().unwrap_or_default() },
            None if ev.resolved() => Verdict::Resolved,
            None => Verdict::NotResolved,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::EmptyPatch => f.write_str("empty patch: not graded"),
            Verdict::GradedEarlier { resolved: true } => f.write_str("resolved (graded earlier)"),
            Verdict::GradedEarlier { resolved: false } => f.write_str("not resolved (graded earlier)"),
            Verdict::Error { kind, message } => write!(f, "error ({kind:?}): {}", error_summary(message)),
            Verdict::Resolved => f.write_str("resolved"),
            Verdict::NotResolved => f.write_str("not resolved"),
        }
    }
}

/// One finished instance of a benchmark run. `Display`: `ID: EPISODE; VERDICT`.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchEvent {
    pub instance_id: String,
    pub episode: EpisodeNote,
    pub verdict: Verdict,
    /// Whether the run folder holds a resolved report for it now.
    pub resolved: bool,
}

impl fmt::Display for BenchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.instance_id, self.episode, self.verdict)
    }
}

/// Settings of [`run_bench`]. `Default`: 1 worker, graded instances skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BenchOptions {
    /// Instances worked on at once (each an episode then a grading; at least 1).
    pub max_workers: usize,
    /// Grade again instances already graded in this run (finished episodes are never run again).
    pub rerun: bool,
}

/// What a benchmark run leaves.
#[derive(Clone, Debug)]
pub struct BenchRun {
    /// Every prediction, in instance order.
    pub predictions: Vec<Prediction>,
    pub predictions_path: PathBuf,
    pub summary: RunSummary,
    pub summary_path: PathBuf,
}

/// Runs the agent on `instance` in a fresh container and writes its trajectory, episode and prediction into
/// `dir` (`prediction.json` last: its presence means the episode is done). Never fails on the instance's account:
/// a container that cannot start gives an empty prediction and the reason in `episode.json`. An `Err` is an
/// unusable agent configuration or a failed write.
pub async fn run_agent(
    harness: &Harness,
    agent: Agent<'_>,
    instance: &Instance,
    dir: &Path,
) -> Result<(Prediction, EpisodeNote), AgentError> {
    let prediction = |patch: String| Prediction {
        instance_id: instance.instance_id.clone(),
        model_name_or_path: agent.policy.model_name(),
        model_patch: Some(patch),
    };
    let placed = harness
        .in_container(instance, async |c| run_episode(agent.policy, c, instance, agent.config, &mut |_| {}).await);
    let (pred, note) = match placed.await {
        Err((kind, message)) => {
            let note = serde_json::json!({"instance_id": instance.instance_id, "exit": "sandbox_error",
                "error": kind, "message": message});
            write_json_atomic(&dir.join(BenchLayout::EPISODE_FILE), &note)?;
            (prediction(String::new()), EpisodeNote::NoEpisode { message })
        }
        Ok(placed) => {
            let ep = placed.value?;
            write_episode(&ep, dir)?;
            let note = EpisodeNote::Ran {
                exit: ep.exit.clone(),
                calls: ep.steps,
                format_errors: ep.format_errors,
                patch_bytes: ep.patch.as_deref().map_or(0, str::len),
            };
            (prediction(ep.patch.unwrap_or_default()), note)
        }
    };
    write_json_atomic(&dir.join(BenchLayout::PREDICTION_FILE), &pred)?;
    Ok((pred, note))
}

/// One instance of a run: the episode unless done earlier, then the grading unless graded earlier (or `rerun`);
/// then the instance is done for the harness's image cache (its image may go).
async fn bench_instance(
    harness: &Harness,
    agent: Agent<'_>,
    instance: &Instance,
    layout: &BenchLayout,
    opts: &BenchOptions,
) -> Result<(Prediction, BenchEvent), AgentError> {
    let model = agent.policy.model_name();
    let dir = layout.instance_dir(&model, &instance.instance_id);
    let (pred, episode) = match read_prediction(&dir.join(BenchLayout::PREDICTION_FILE)) {
        Some(p) => (p, EpisodeNote::Earlier),
        None => run_agent(harness, agent, instance, &dir).await?,
    };
    let (run, id) = (&layout.run, instance.instance_id.as_str());
    let verdict = if pred.is_empty() {
        Verdict::EmptyPatch
    } else if !opts.rerun && run.is_graded(&pred.model_name_or_path, id) {
        Verdict::GradedEarlier { resolved: run.read_report(&pred.model_name_or_path, id).is_some_and(|r| r.resolved) }
    } else {
        let ev = harness.evaluate(instance, &pred).await;
        ev.write(run)?;
        Verdict::of(&ev)
    };
    harness.instance_done(instance).await;
    let resolved = run.read_report(&pred.model_name_or_path, id).is_some_and(|r| r.resolved);
    Ok((pred, BenchEvent { instance_id: instance.instance_id.clone(), episode, verdict, resolved }))
}

/// Runs the agent on `instances` (out of `dataset`, the summary's total) with `opts.max_workers` at once, each
/// instance resumed or run and graded as the module docs say; `on_event` sees each finished instance. Then writes
/// `predictions.jsonl` (instance order) and `summary.json`. An `Err` is an unusable agent configuration or a
/// failed write.
pub async fn run_bench(
    harness: &Harness,
    agent: Agent<'_>,
    dataset: &[Instance],
    instances: &[Instance],
    layout: &BenchLayout,
    opts: &BenchOptions,
    on_event: &mut dyn FnMut(&BenchEvent),
) -> Result<BenchRun, AgentError> {
    let jobs = instances.iter().map(|inst| bench_instance(harness, agent, inst, layout, opts));
    let mut stream = futures_util::stream::iter(jobs).buffer_unordered(opts.max_workers.max(1));
    let mut predictions = Vec::with_capacity(instances.len());
    while let Some(r) = stream.next().await {
        let (pred, event) = r?;
        on_event(&event);
        predictions.push(pred);
    }
    drop(stream);
    let order: HashMap<&str, usize> = instances.iter().enumerate().map(|(i, x)| (x.instance_id.as_str(), i)).collect();
    predictions.sort_by_key(|p| order.get(p.instance_id.as_str()).copied().unwrap_or(usize::MAX));
    let predictions_path = layout.predictions_path();
    write_jsonl_atomic(&predictions_path, &predictions)?;
    let summary = summarize_run(dataset, &predictions, &layout.run);
    let summary_path = layout.run.write_summary(&summary)?;
    Ok(BenchRun { predictions, predictions_path, summary, summary_path })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(episode: EpisodeNote, verdict: Verdict) -> String {
        BenchEvent { instance_id: "o__r-1".into(), episode, verdict, resolved: false }.to_string()
    }

    #[test]
    fn progress_lines() {
        let ran = EpisodeNote::Ran { exit: ExitReason::Submitted, calls: 13, format_errors: 0, patch_bytes: 512 };
        assert_eq!(
            event(ran, Verdict::Resolved),
            "o__r-1: submitted after 13 calls (0 format errors), patch of 512 bytes; resolved"
        );
        let failed = ExitReason::PolicyError { message: "down".into() };
        let ran = EpisodeNote::Ran { exit: failed, calls: 1, format_errors: 0, patch_bytes: 0 };
        assert_eq!(
            event(ran, Verdict::EmptyPatch),
            "o__r-1: policy_error after 1 calls (0 format errors), patch of 0 bytes; empty patch: not graded"
        );
        assert_eq!(
            event(EpisodeNote::Earlier, Verdict::GradedEarlier { resolved: true }),
            "o__r-1: episode done earlier; resolved (graded earlier)"
        );
        assert_eq!(
            event(EpisodeNote::Earlier, Verdict::GradedEarlier { resolved: false }),
            "o__r-1: episode done earlier; not resolved (graded earlier)"
        );
        let no = EpisodeNote::NoEpisode { message: "building\nstep 3\nno python 3.6\n".into() };
        let err = Verdict::Error { kind: ErrorKind::PatchFailed, message: "a\nb\nc".into() };
        assert_eq!(event(no, err), "o__r-1: no episode: step 3 | no python 3.6; error (PatchFailed): b | c");
        assert_eq!(event(EpisodeNote::Earlier, Verdict::NotResolved), "o__r-1: episode done earlier; not resolved");
    }

    #[test]
    fn episode_files_are_written_and_predictions_read_back() {
        let d = tempfile::tempdir().unwrap();
        let layout = BenchLayout::new(RunLayout::new(d.path(), "run"));
        let dir = layout.instance_dir("org/m", "i-1");
        assert_eq!(dir, d.path().join("run/org__m/i-1"));
        assert_eq!(layout.predictions_path(), d.path().join("run/predictions.jsonl"));
        assert!(layout.read_prediction("org/m", "i-1").is_none());
        let p =
            Prediction { instance_id: "i-1".into(), model_name_or_path: "org/m".into(), model_patch: Some("".into()) };
        write_json_atomic(&dir.join(BenchLayout::PREDICTION_FILE), &p).unwrap();
        assert_eq!(layout.read_prediction("org/m", "i-1"), Some(p));
    }
}
