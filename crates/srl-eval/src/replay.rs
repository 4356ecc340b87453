//! The replay harness: re-execute another agent's recorded actions in a fresh container of its instance, compare
//! each new observation with the recorded one, grade the patch the actions leave, and say whether the trajectory
//! is reproducible and correct before anyone trains on it.
//!
//! [`replay`] does one trajectory; [`replay_run`] does many with N workers and writes a run's files
//! ([`ReplayLayout`]): per trajectory `<run>/replay/<NNNN>-<id>/replay.json` (the [`ReplayReport`]) and
//! `trajectory.json` (the trajectory with the new observations, as a SWE-smith record), the grading files in the
//! evaluator's layout, then `<run>/replay_summary.json` and, with a [`Keep`] filter, `<run>/kept.jsonl` (the kept
//! trajectories as SWE-smith records, which the trainer reads).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use srl_core::text::truncate_middle;
use srl_core::{ActionKind, Instance, Trajectory};
use srl_sandbox::{Container, ExecOptions};

use crate::error::EvalError;
use crate::layout::{RunLayout, write_json_atomic, write_jsonl_atomic};
use crate::log::{error_summary, network_failure};
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
    /// The new observation shows the action wanted the network (this sign, absent from the recorded one): the
    /// recorded run had it, the replay's container has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_network: Option<String>,
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
    /// The step wanted the network, which the replay has not (see [`StepReplay::no_network`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_network: Option<String>,
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
    /// Steps whose new observation shows they wanted the network (see [`StepReplay::no_network`]).
    #[serde(default)]
    pub steps_without_network: usize,
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
            steps_without_network: 0,
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

    /// Every step's observation at or above the divergence threshold, and at least one step replayed.
    pub fn reproducible(&self) -> bool {
        self.first_divergence.is_none() && self.steps_replayed > 0
    }

    /// The one-line progress report of this replay: `ID (SOURCE): VERDICT; R/T steps, E errored, mean similarity
    /// S[, first diverging step N (TOOL, similarity X)]`.
    pub fn line(&self) -> String {
        let verdict = match (self.resolved, &self.error) {
            (Some(true), _) => "resolved".to_string(),
            (Some(false), _) => "not resolved".to_string(),
            (None, Some(e)) => format!("error: {}", error_summary(e)),
            (None, None) => "not graded".to_string(),
        };
        let div = match &self.first_divergence {
            Some(d) => format!(
                ", first diverging step {} ({}, similarity {:.2}{})",
                d.step,
                d.tool,
                d.similarity,
                d.no_network.as_ref().map(|m| format!(", no network: `{m}`")).unwrap_or_default()
            ),
            None => String::new(),
        };
        let net = match self.steps_without_network {
            0 => String::new(),
            n => format!(", {n} wanted the network"),
        };
        format!(
            "{} ({}): {verdict}; {}/{} steps, {} errored{net}, mean similarity {:.3}{div}",
            self.instance_id,
            self.source,
            self.steps_replayed,
            self.steps_total,
            self.steps_errored,
            self.mean_similarity
        )
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
    let finish = |mut report: ReplayReport, t: Trajectory, evaluation: Option<Evaluation>| {
        report.duration_s = started.elapsed().as_secs_f64();
        Replayed { report, trajectory: t, evaluation }
    };
    let placed = harness.in_container(instance, async |c| replay_steps(c, instance, trajectory, opts).await).await;
    let (mut report, mut t, patch) = match placed {
        Ok(p) => p.value,
        Err((kind, message)) => {
            let mut report = ReplayReport::new(trajectory);
            report.error = Some(message);
            report.error_kind = Some(kind);
            return finish(report, trajectory.clone(), None);
        }
    };
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

/// The actions of `trajectory` run in `container`: the report of each step, the trajectory with the new
/// observations, and the patch (the submitted one, else what the actions left in the tree).
async fn replay_steps(
    container: &Container,
    instance: &Instance,
    trajectory: &Trajectory,
    opts: &ReplayOptions,
) -> (ReplayReport, Trajectory, Option<String>) {
    let mut t = trajectory.clone();
    let mut report = ReplayReport::new(trajectory);
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
        let no_network = network_failure(&obs).filter(|m| !step.observation.contains(m)).map(str::to_string);
        sim_sum += similarity;
        report.steps_replayed += 1;
        report.steps_errored += usize::from(errored);
        report.steps_without_network += usize::from(no_network.is_some());
        if report.first_divergence.is_none() && similarity < opts.diverge_below {
            report.first_divergence = Some(Divergence {
                step: i + 1,
                tool: step.action.name().to_string(),
                similarity,
                recorded: first_lines(&step.observation, 6),
                replayed: first_lines(&obs, 6),
                no_network: no_network.clone(),
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
            no_network,
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
    (report, t, patch)
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
            } else if r.reproducible() {
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

impl ReplaySummary {
    /// The end-of-run line: `replayed N: resolved R | unresolved U | errors E | reproducible P | mean observation
    /// similarity S`.
    pub fn line(&self) -> String {
        format!(
            "replayed {}: resolved {} | unresolved {} | errors {} | reproducible {} | mean observation similarity {:.3}",
            self.trajectories, self.resolved, self.unresolved, self.errors, self.reproducible, self.mean_similarity
        )
    }
}

srl_core::choice_enum! {
    /// Which replayed trajectories a run keeps (`--keep`) in `kept.jsonl`.
    pub enum Keep: "keep filter" {
        /// Graded resolved.
        Resolved = "resolved",
        /// Every step's observation at or above the divergence threshold (resolved or not).
        Reproducible = "reproducible",
        /// Both.
        Verified = "verified",
    }
}

impl Keep {
    /// Whether a replay with this report is kept.
    pub fn keeps(self, report: &ReplayReport) -> bool {
        let resolved = report.resolved == Some(true);
        match self {
            Keep::Resolved => resolved,
            Keep::Reproducible => report.reproducible(),
            Keep::Verified => resolved && report.reproducible(),
        }
    }
}

/// Where a replay run's files go, inside an evaluation run folder (whose layout holds the grading files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayLayout {
    pub run: RunLayout,
}

impl ReplayLayout {
    /// The folder of the per-trajectory folders, under the run folder.
    pub const REPLAY_DIR: &'static str = "replay";
    /// A trajectory's [`ReplayReport`].
    pub const REPORT_FILE: &'static str = "replay.json";
    /// A trajectory with its new observations, as a SWE-smith record.
    pub const TRAJECTORY_FILE: &'static str = "trajectory.json";
    /// The [`ReplaySummary`], in the run folder.
    pub const SUMMARY_FILE: &'static str = "replay_summary.json";
    /// The kept trajectories (SWE-smith records, one a line), in the run folder.
    pub const KEPT_FILE: &'static str = "kept.jsonl";

    pub fn new(run: RunLayout) -> ReplayLayout {
        ReplayLayout { run }
    }

    /// `<run>/replay/<NNNN>-<id>`: the input position (1-based, so repeated ids stay apart) and the instance id
    /// with path separators made `_`.
    pub fn trajectory_dir(&self, index: usize, instance_id: &str) -> PathBuf {
        let name = format!("{:04}-{}", index + 1, instance_id.replace(['/', '\\'], "_"));
        self.run.run_dir().join(Self::REPLAY_DIR).join(name)
    }

    pub fn summary_path(&self) -> PathBuf {
        self.run.run_dir().join(Self::SUMMARY_FILE)
    }

    pub fn kept_path(&self) -> PathBuf {
        self.run.run_dir().join(Self::KEPT_FILE)
    }

    /// Writes the files of the replay of input `index`: `replay.json`, `trajectory.json` and the grading files.
    pub fn write(&self, index: usize, replayed: &Replayed) -> Result<PathBuf, EvalError> {
        let dir = self.trajectory_dir(index, &replayed.report.instance_id);
        write_json_atomic(&dir.join(Self::REPORT_FILE), &replayed.report)?;
        let record = srl_data::swe_smith::to_record(&replayed.trajectory);
        write_json_atomic(&dir.join(Self::TRAJECTORY_FILE), &record)?;
        if let Some(ev) = &replayed.evaluation {
            ev.write(&self.run)?;
        }
        Ok(dir)
    }
}

/// Settings of [`replay_run`]. `Default`: [`ReplayOptions::default`], 2 workers, nothing kept.
#[derive(Clone, Debug)]
pub struct ReplayRunOptions {
    pub replay: ReplayOptions,
    /// Trajectories replayed at once (at least 1).
    pub max_workers: usize,
    /// Write the replays this filter keeps to `kept.jsonl`.
    pub keep: Option<Keep>,
}

impl Default for ReplayRunOptions {
    fn default() -> Self {
        ReplayRunOptions { replay: ReplayOptions::default(), max_workers: 2, keep: None }
    }
}

/// What a replay run leaves: its summary and where the files are.
#[derive(Clone, Debug)]
pub struct ReplayRun {
    /// Every replay, in input order.
    pub reports: Vec<ReplayReport>,
    pub summary: ReplaySummary,
    pub summary_path: PathBuf,
    /// How many trajectories were kept and where (when a [`Keep`] filter was given).
    pub kept: Option<(usize, PathBuf)>,
}

/// Replays `trajectories` against the instances of `dataset` with `opts.max_workers` containers at once, writing
/// each replay's files as it finishes (then `on_done` sees its report), then the summary and the kept
/// trajectories. Each replay is one use of its instance for the harness's image cache (plan them with
/// [`crate::ImageCache::plan`] when an instance has several trajectories). A trajectory whose instance is not in the dataset is reported as not run. An `Err` is only a
/// failure to write.
pub async fn replay_run(
    harness: &Harness,
    dataset: &[Instance],
    trajectories: &[Trajectory],
    layout: &ReplayLayout,
    opts: &ReplayRunOptions,
    on_done: &mut dyn FnMut(&ReplayReport),
) -> Result<ReplayRun, EvalError> {
    let by_id: HashMap<&str, &Instance> = dataset.iter().map(|i| (i.instance_id.as_str(), i)).collect();
    let jobs = trajectories.iter().enumerate().map(|(i, t)| {
        let inst = by_id.get(t.instance_id.as_str()).copied();
        async move {
            let r = match inst {
                Some(inst) => {
                    let r = replay(harness, inst, t, &opts.replay).await;
                    harness.instance_done(inst).await;
                    r
                }
                None => Replayed {
                    report: ReplayReport::not_run(
                        t,
                        ErrorKind::Other,
                        format!("{} is not in the dataset (pick it with --dataset FILE)", t.instance_id),
                    ),
                    trajectory: t.clone(),
                    evaluation: None,
                },
            };
            (i, r)
        }
    });
    let mut stream = futures_util::stream::iter(jobs).buffer_unordered(opts.max_workers.max(1));
    let mut done = Vec::with_capacity(trajectories.len());
    while let Some((i, r)) = stream.next().await {
        layout.write(i, &r)?;
        on_done(&r.report);
        done.push((i, r));
    }
    drop(stream);
    done.sort_by_key(|(i, _)| *i);
    let reports: Vec<ReplayReport> = done.iter().map(|(_, r)| r.report.clone()).collect();
    let summary = ReplaySummary::build(&reports);
    let summary_path = layout.summary_path();
    write_json_atomic(&summary_path, &summary)?;
    let kept = match opts.keep {
        None => None,
        Some(keep) => {
            let records: Vec<serde_json::Value> = done
                .iter()
                .filter(|(_, r)| keep.keeps(&r.report))
                .map(|(_, r)| srl_data::swe_smith::to_record(&r.trajectory))
                .collect();
            let path = layout.kept_path();
            let n = write_jsonl_atomic(&path, &records)?;
            Some((n, path))
        }
    };
    Ok(ReplayRun { reports, summary, summary_path, kept })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(resolved: Option<bool>, replayed: usize, diverged: bool) -> ReplayReport {
        let t = Trajectory {
            instance_id: "o/r-1".into(),
            task: String::new(),
            steps: Vec::new(),
            patch: None,
            resolved: None,
            source_format: "canonical".into(),
            source: "a.jsonl:1".into(),
            model: None,
            exit_status: None,
        };
        let mut r = ReplayReport::new(&t);
        r.resolved = resolved;
        r.steps_total = 3;
        r.steps_replayed = replayed;
        r.mean_similarity = 0.5;
        if diverged {
            r.first_divergence = Some(Divergence {
                step: 2,
                tool: "bash".into(),
                similarity: 0.25,
                recorded: String::new(),
                replayed: String::new(),
                no_network: None,
            });
        }
        r
    }

    #[test]
    fn keep_filters() {
        let cases = [
            (report(Some(true), 3, false), [true, true, true]),
            (report(Some(true), 3, true), [true, false, false]),
            (report(Some(false), 3, false), [false, true, false]),
            (report(None, 0, false), [false, false, false]),
        ];
        for (r, want) in cases {
            let got = [Keep::Resolved, Keep::Reproducible, Keep::Verified].map(|k| k.keeps(&r));
            assert_eq!(got, want, "{r:?}");
        }
        assert_eq!("verified".parse::<Keep>().unwrap(), Keep::Verified);
        assert!("all".parse::<Keep>().unwrap_err().to_string().contains("`resolved`, `reproducible` or `verified`"));
    }

    #[test]
    fn lines_and_layout() {
        assert_eq!(
            report(Some(true), 3, true).line(),
            "o/r-1 (a.jsonl:1): resolved; 3/3 steps, 0 errored, mean similarity 0.500, first diverging step 2 \
             (bash, similarity 0.25)"
        );
        let mut r = report(None, 0, false);
        r.error = Some("build\nfailed\nbadly\n".into());
        assert_eq!(r.line(), "o/r-1 (a.jsonl:1): error: failed | badly; 0/3 steps, 0 errored, mean similarity 0.500");
        assert!(report(None, 1, false).line().contains(": not graded;"));
        let mut r = report(Some(false), 3, true);
        r.steps_without_network = 2;
        r.first_divergence.as_mut().unwrap().no_network = Some("Network is unreachable".into());
        assert_eq!(
            r.line(),
            "o/r-1 (a.jsonl:1): not resolved; 3/3 steps, 0 errored, 2 wanted the network, mean similarity 0.500, \
             first diverging step 2 (bash, similarity 0.25, no network: `Network is unreachable`)"
        );
        let s = ReplaySummary::build(&[report(Some(true), 3, false), report(Some(false), 3, true)]);
        assert_eq!(
            s.line(),
            "replayed 2: resolved 1 | unresolved 1 | errors 0 | reproducible 1 | mean observation similarity 0.500"
        );
        let l = ReplayLayout::new(RunLayout::new("logs", "replay"));
        assert_eq!(l.trajectory_dir(0, "a/b\\c"), PathBuf::from("logs/replay/replay/0001-a_b_c"));
        assert_eq!(l.summary_path(), PathBuf::from("logs/replay/replay_summary.json"));
        assert_eq!(l.kept_path(), PathBuf::from("logs/replay/kept.jsonl"));
    }
}
