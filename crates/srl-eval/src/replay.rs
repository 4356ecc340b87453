//! The replay harness: re-execute another agent's recorded actions in a fresh container of its instance, compare
//! each new observation with the recorded one, grade the patch the actions leave, and say whether the trajectory
//! is reproducible and correct before anyone trains on it.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use srl_core::text::truncate_middle;
use srl_core::{ActionKind, Instance, Trajectory};
use srl_sandbox::ExecOptions;

use crate::predictions::Prediction;
use crate::report::ErrorKind;
use crate::runner::{Evaluation, Harness};

/// Settings of a replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Time limit of each bash action.
    pub step_timeout: Duration,
    /// A step diverges when its observation's similarity to the recorded one is below this.
    pub diverge_below: f64,
    /// Observations are compared on at most this many characters each (head and tail), so that a 1 MB log does
    /// not cost a quadratic comparison.
    pub compare_chars: usize,
    /// `model_name_or_path` of the graded patch (the report folder's name).
    pub model_name: String,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            step_timeout: Duration::from_secs(120),
            diverge_below: 0.8,
            compare_chars: 20_000,
            model_name: "replay".into(),
        }
    }
}

/// One replayed step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReplay {
    /// 1-based step number.
    pub step: usize,
    pub tool: String,
    /// Similarity (difflib ratio, as the reward) of the new observation to the recorded one.
    pub similarity: f64,
    /// The tool refused the call or the sandbox failed to run it.
    pub errored: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

/// Where a replay first went its own way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub step: usize,
    pub tool: String,
    pub similarity: f64,
    /// The first lines of the recorded and the new observation.
    pub recorded: String,
    pub replayed: String,
}

/// The report of one replayed trajectory (`replay.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    pub instance_id: String,
    /// The trajectory file (and line).
    pub source: String,
    pub source_format: String,
    pub steps_total: usize,
    pub steps_replayed: usize,
    pub steps_errored: usize,
    pub mean_similarity: f64,
    pub first_divergence: Option<Divergence>,
    /// Whether the replayed patch equals the recorded one (modulo trailing whitespace), when one was recorded.
    pub patch_matches_recorded: Option<bool>,
    pub patch_bytes: usize,
    /// Graded resolved (`None` when grading could not run: see `error`).
    pub resolved: Option<bool>,
    /// What stopped the replay or its grading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    pub duration_s: f64,
    pub steps: Vec<StepReplay>,
}

/// A replay's outputs: the report, the trajectory with the new observations and patch, and the grading.
#[derive(Clone, Debug)]
pub struct Replayed {
    pub report: ReplayReport,
    pub trajectory: Trajectory,
    pub evaluation: Option<Evaluation>,
}

impl ReplayReport {
    /// A report with nothing replayed yet.
    pub fn new(trajectory: &Trajectory) -> ReplayReport {
        ReplayReport {
            instance_id: trajectory.instance_id.clone(),
            source: trajectory.source.clone(),
            source_format: trajectory.source_format.clone(),
            steps_total: trajectory.steps.len(),
            steps_replayed: 0,
            steps_errored: 0,
            mean_similarity: 0.0,
            first_divergence: None,
            patch_matches_recorded: None,
            patch_bytes: 0,
            resolved: None,
            error: None,
            error_kind: None,
            duration_s: 0.0,
            steps: Vec::new(),
        }
    }

    /// The report of a trajectory that could not be replayed at all (e.g. its instance is not in the dataset).
    pub fn not_run(trajectory: &Trajectory, kind: ErrorKind, message: impl Into<String>) -> ReplayReport {
        ReplayReport { error: Some(message.into()), error_kind: Some(kind), ..ReplayReport::new(trajectory) }
    }
}

fn first_lines(s: &str, n: usize) -> String {
    let head: Vec<&str> = s.lines().take(n).collect();
    truncate_middle(&head.join("\n"), 400).into_owned()
}

fn same_patch(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n");
    norm(a) == norm(b)
}

/// Replays `trajectory` on `instance` and grades the result. Never fails: a container that cannot start or an
/// action the sandbox cannot run is in the report.
pub async fn replay(harness: &Harness, instance: &Instance, trajectory: &Trajectory, opts: &ReplayOptions) -> Replayed {
    let started = Instant::now();
    let mut t = trajectory.clone();
    let mut report = ReplayReport::new(trajectory);
    let finish = |mut report: ReplayReport, t: Trajectory, evaluation: Option<Evaluation>| {
        report.duration_s = started.elapsed().as_secs_f64();
        Replayed { report, trajectory: t, evaluation }
    };
    let container = match harness.start(instance).await {
        Ok(c) => c,
        Err((kind, message)) => {
            report.error = Some(message);
            report.error_kind = Some(kind);
            return finish(report, t, None);
        }
    };
    container.configure_tools(|s| {
        s.base_commit = Some(instance.base_commit.clone());
        s.exec = ExecOptions::with_timeout(opts.step_timeout);
    });
    let mut patch = None;
    let mut sim_sum = 0.0;
    for (i, step) in t.steps.iter_mut().enumerate() {
        let (obs, errored, exit_code, timed_out) = match container.run_tool(&step.action).await {
            Ok(o) => {
                if step.action.kind() == ActionKind::Submit {
                    patch = o.patch.clone();
                }
                (o.text, o.error, o.exit_code, o.timed_out)
            }
            Err(e) => (format!("sandbox error: {e}"), true, None, false),
        };
        let recorded = truncate_middle(&step.observation, opts.compare_chars);
        let similarity = srl_reward::similarity(&recorded, &truncate_middle(&obs, opts.compare_chars));
        sim_sum += similarity;
        report.steps_replayed += 1;
        report.steps_errored += usize::from(errored);
        if report.first_divergence.is_none() && similarity < opts.diverge_below {
            report.first_divergence = Some(Divergence {
                step: i + 1,
                tool: step.action.name().to_string(),
                similarity,
                recorded: first_lines(&step.observation, 6),
                replayed: first_lines(&obs, 6),
            });
        }
        tracing::debug!(step = i + 1, similarity, errored, "replayed");
        report.steps.push(StepReplay {
            step: i + 1,
            tool: step.action.name().to_string(),
            similarity,
            errored,
            exit_code,
            timed_out,
        });
        step.observation = obs;
        if step.action.kind() == ActionKind::Submit {
            break;
        }
    }
    report.mean_similarity = if report.steps_replayed == 0 { 1.0 } else { sim_sum / report.steps_replayed as f64 };
    // A trajectory that never submitted: its patch is what its actions left in the tree.
    if patch.is_none() {
        match container.submit_patch(Some(&instance.base_commit)).await {
            Ok(p) => patch = Some(p),
            Err(e) => report.error = Some(format!("taking the patch: {e}")),
        }
    }
    if let Err(e) = container.remove().await {
        tracing::warn!("removing the replay container: {e}");
    }
    let patch = patch.unwrap_or_default();
    report.patch_bytes = patch.len();
    report.patch_matches_recorded = trajectory.patch.as_deref().map(|p| same_patch(p, &patch));
    t.patch = Some(patch.clone());
    if patch.trim().is_empty() {
        report.resolved = Some(false);
        report.error.get_or_insert_with(|| "the replayed actions changed nothing (empty patch)".into());
        report.error_kind = Some(ErrorKind::EmptyPatch);
        t.resolved = Some(false);
        return finish(report, t, None);
    }
    let prediction = Prediction {
        instance_id: instance.instance_id.clone(),
        model_name_or_path: opts.model_name.clone(),
        model_patch: Some(patch),
    };
    let ev = harness.evaluate(instance, &prediction).await;
    if let Some(kind) = ev.error() {
        report.error_kind = Some(kind.clone());
        report.error = ev.extras.message.clone();
    } else {
        report.resolved = Some(ev.resolved());
        t.resolved = Some(ev.resolved());
    }
    finish(report, t, Some(ev))
}

/// The summary of a replay run (`replay_summary.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplaySummary {
    pub trajectories: usize,
    pub resolved: usize,
    pub unresolved: usize,
    pub errors: usize,
    /// Trajectories whose every step stayed at or above the divergence threshold.
    pub reproducible: usize,
    pub mean_similarity: f64,
    pub resolved_sources: Vec<String>,
    pub diverged_sources: Vec<String>,
    pub error_sources: Vec<String>,
}

impl ReplaySummary {
    pub fn build(reports: &[ReplayReport]) -> ReplaySummary {
        let mut s = ReplaySummary { trajectories: reports.len(), ..ReplaySummary::default() };
        for r in reports {
            match r.resolved {
                Some(true) => {
                    s.resolved += 1;
                    s.resolved_sources.push(r.source.clone());
                }
                Some(false) => s.unresolved += 1,
                None => {
                    s.errors += 1;
                    s.error_sources.push(r.source.clone());
                }
            }
            if r.first_divergence.is_some() {
                s.diverged_sources.push(r.source.clone());
            } else if r.steps_replayed > 0 {
                s.reproducible += 1;
            }
        }
        s.mean_similarity = if reports.is_empty() {
            0.0
        } else {
            reports.iter().map(|r| r.mean_similarity).sum::<f64>() / reports.len() as f64
        };
        s
    }
}
