//! `srl-swe eval`: grade predictions on SWE-bench instances in Docker, in SWE-bench's report layout, resumable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use srl_core::Instance;
use srl_eval::{
    DatasetSource, GradingConfig, Harness, HarnessOptions, Prediction, PredictionSource, RunLayout, RunSummary, Split,
    load_source, plan_run, select_instances, summarize_run,
};
use srl_sandbox::{Sandbox, TaskSet};

use super::sandbox::{Paths, block, connect, spinner};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// `verified`, `lite`, `full` (SWE-bench's test splits, read from the local Hugging Face cache) or `bundled`
    /// (the tasks under tasks/). Default: verified, unless --dataset is given.
    #[arg(long, conflicts_with = "dataset")]
    pub split: Option<String>,
    #[command(flatten)]
    pub paths: Paths,
    /// SWE-bench predictions (JSONL, a JSON list, or a JSON object keyed by instance id, with instance_id,
    /// model_name_or_path, model_patch), or `gold` (the dataset's patches), or `empty` (no patch).
    #[arg(long, conflicts_with = "policy")]
    pub predictions: Option<String>,
    /// Run an agent instead of reading predictions (see the policy options): its trajectories, episodes and
    /// predictions are written beside the reports, then graded.
    #[command(flatten)]
    pub agent: super::agent::PolicyArgs,
    /// Only these instances (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub instance_ids: Vec<String>,
    /// Containers graded at once.
    #[arg(long, default_value_t = 2)]
    pub max_workers: usize,
    /// Time limit of each instance's tests, seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Run id (default: `<split or dataset>.<predictions>`); re-running it skips graded instances.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Where `<run_id>/...` goes.
    #[arg(long, default_value = "logs")]
    pub report_dir: PathBuf,
    /// Grade again instances that already have a report.json in this run.
    #[arg(long)]
    pub rerun: bool,
    /// Grading rules: `5.x` (SWE-bench's current harness) or `4.x`.
    #[arg(long, default_value = "5.x")]
    pub grading: String,
}

/// The dataset a command names: `--dataset FILE` or `--split NAME`.
pub(crate) fn dataset_source(split: Option<&str>, dataset: Option<&Path>) -> DatasetSource {
    match (dataset, split) {
        (Some(d), _) => DatasetSource::File(d.to_path_buf()),
        (None, Some(s)) => DatasetSource::parse(s),
        (None, None) => DatasetSource::Split(Split::Verified),
    }
}

fn source_name(source: &DatasetSource) -> String {
    match source {
        DatasetSource::Split(s) => s.as_str().to_string(),
        DatasetSource::Bundled => "bundled".into(),
        DatasetSource::File(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or("dataset".into()),
    }
}

pub(crate) fn grading_config(name: &str) -> anyhow::Result<GradingConfig> {
    match name {
        "5.x" | "5" => Ok(GradingConfig::swebench_5()),
        "4.x" | "4" => Ok(GradingConfig::swebench_4()),
        other => bail!("unknown --grading {other:?}: expected 5.x or 4.x"),
    }
}

/// A harness over the instances of `instances` with the images and repositories `paths` names.
pub(crate) fn harness(
    paths: &Paths,
    sb: &Sandbox,
    bar: &ProgressBar,
    instances: Vec<Instance>,
    options: HarnessOptions,
) -> anyhow::Result<Harness> {
    let builder = paths.builder(sb, bar)?;
    let tasks = TaskSet { instances, tasks_dir: Some(paths.tasks_dir.clone()), mirror_dir: paths.mirror_dir.clone() };
    Ok(Harness::new(sb.clone(), builder, tasks, options))
}

/// A bar over `n` instances with a running resolve count in its message.
pub(crate) fn instance_bar(n: usize) -> ProgressBar {
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
            .unwrap_or(ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// One line above the bar, or on stdout when the bar is hidden (not a terminal).
pub(crate) fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() { println!("{line}") } else { bar.println(line) }
}

/// The last lines of a long message (e.g. a failed build's output).
pub(crate) fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Prints the end-of-run lines.
pub(crate) fn print_summary(s: &RunSummary, path: &Path) {
    println!(
        "submitted {} | completed {} | resolved {} | unresolved {} | empty patch {} | errors {}",
        s.submitted_instances,
        s.completed_instances,
        s.resolved_instances,
        s.unresolved_instances,
        s.empty_patch_instances,
        s.error_instances
    );
    if !s.error_ids.is_empty() {
        println!("error instances (see srl_extras.json in their folders): {}", s.error_ids.join(" "));
    }
    println!(
        "resolve rate: {}/{} = {:.1}% of the dataset{}",
        s.resolved_instances,
        s.total_instances,
        100.0 * s.resolve_rate,
        if s.submitted_instances != s.total_instances && s.submitted_instances > 0 {
            format!(
                " ({:.1}% of the {} submitted)",
                100.0 * s.resolved_instances as f64 / s.submitted_instances as f64,
                s.submitted_instances
            )
        } else {
            String::new()
        }
    );
    println!("summary: {}", path.display());
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let source = dataset_source(args.split.as_deref(), args.paths.dataset.as_deref());
    let dataset = load_source(&source, Path::new(".")).context("loading the dataset")?;
    let instances = select_instances(dataset.clone(), &args.instance_ids)?;
    let options = HarnessOptions {
        timeout: Duration::from_secs(args.timeout),
        grading: grading_config(&args.grading)?,
        ..HarnessOptions::default()
    };
    if let Some(policy) = &args.agent.policy {
        let name = policy.trim_end_matches('/').rsplit('/').next().unwrap_or("policy").replace(':', "_");
        let run_id = args.run_id.clone().unwrap_or_else(|| format!("{}.{name}", source_name(&source)));
        let layout = RunLayout::new(&args.report_dir, &run_id);
        return super::agent::eval_policy(
            &args.paths,
            &args.agent,
            &dataset,
            &instances,
            &layout,
            options,
            args.max_workers,
            args.rerun,
        );
    }
    let Some(pred_arg) = args.predictions.as_deref() else {
        bail!("give --predictions FILE (SWE-bench's predictions), `gold` or `empty`, or --policy to run an agent");
    };
    let pred_source = PredictionSource::parse(pred_arg);
    let mut predictions = pred_source.load(&instances).with_context(|| format!("loading --predictions {pred_arg}"))?;
    if !args.instance_ids.is_empty() {
        let wanted: std::collections::HashSet<&str> = args.instance_ids.iter().map(String::as_str).collect();
        predictions.retain(|p| wanted.contains(p.instance_id.as_str()));
    }
    let pred_name = match &pred_source {
        PredictionSource::File(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        _ => pred_arg.to_string(),
    };
    let run_id = args.run_id.clone().unwrap_or_else(|| format!("{}.{}", source_name(&source), pred_name));
    let layout = RunLayout::new(&args.report_dir, &run_id);
    grade(&args.paths, &dataset, &instances, &predictions, &layout, options, args.max_workers, args.rerun)
}

/// Grades `predictions` (of `instances`, out of `dataset`) into `layout`, with a progress bar, then writes and
/// prints the summary.
#[allow(clippy::too_many_arguments)]
pub(crate) fn grade(
    paths: &Paths,
    dataset: &[Instance],
    instances: &[Instance],
    predictions: &[Prediction],
    layout: &RunLayout,
    options: HarnessOptions,
    max_workers: usize,
    rerun: bool,
) -> anyhow::Result<()> {
    let plan = plan_run(instances, predictions, layout, rerun)?;
    if !plan.unknown.is_empty() {
        let shown: Vec<&str> = plan.unknown.iter().take(5).map(String::as_str).collect();
        bail!(
            "{} prediction(s) name instances that are not in the dataset (e.g. {}); pick the dataset they were \
             made for with --split or --dataset, or select ids with --instance-ids",
            plan.unknown.len(),
            shown.join(" ")
        );
    }
    println!(
        "run {}: {} to grade, {} already graded (skipped; --rerun grades them again), {} empty patches",
        layout.run_id,
        plan.to_run.len(),
        plan.already_graded.len(),
        plan.empty_patch.len()
    );
    block(async {
        let sb = connect().await?.with_run_id(layout.run_id.clone());
        let spin = spinner();
        let harness = harness(paths, &sb, &spin, instances.to_vec(), options)?;
        spin.finish_and_clear();
        let bar = instance_bar(plan.to_run.len());
        let mut resolved = plan.already_graded.iter().filter(|id| is_resolved(layout, predictions, id)).count();
        let (mut done, mut errors) = (plan.already_graded.len(), 0usize);
        bar.set_message(format!("resolved {resolved}/{done}"));
        harness
            .run(layout, &plan, max_workers, |ev| {
                done += 1;
                resolved += usize::from(ev.resolved());
                let verdict = match (ev.error(), ev.resolved()) {
                    (Some(kind), _) => {
                        errors += 1;
                        format!("error ({kind:?}): {}", tail_lines(ev.extras.message.as_deref().unwrap_or(""), 2))
                    }
                    (None, true) => "resolved".into(),
                    (None, false) => "not resolved".into(),
                };
                let fuzz = match ev.extras.patch_method.as_deref() {
                    Some(m) if m != srl_sandbox::ApplyMethod::GitApply.command() => {
                        format!(" [patch applied with `{m}`]")
                    }
                    _ => String::new(),
                };
                say(&bar, format!("{}: {verdict}{fuzz}", ev.instance_id));
                bar.set_message(format!(
                    "resolved {resolved}/{done}{}",
                    if errors > 0 { format!(", {errors} errors") } else { String::new() }
                ));
                bar.inc(1);
            })
            .await?;
        bar.finish_and_clear();
        Ok(())
    })?;
    let summary = summarize_run(dataset, predictions, layout);
    let path = layout.write_summary(&summary)?;
    print_summary(&summary, &path);
    Ok(())
}

fn is_resolved(layout: &RunLayout, predictions: &[Prediction], id: &str) -> bool {
    predictions
        .iter()
        .find(|p| p.instance_id == id)
        .and_then(|p| layout.read_report(&p.model_name_or_path, id))
        .is_some_and(|r| r.resolved)
}
