//! `srl-swe eval`: grade predictions, or run an agent and grade its patches, on SWE-bench instances in Docker, in
//! SWE-bench's report layout, resumable.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use srl_agent::bench::{Agent, BenchLayout, BenchOptions, Verdict, run_bench};
use srl_core::Instance;
use srl_eval::{
    DatasetSource, Grading, Harness, HarnessOptions, NO_PATCH, Prediction, PredictionSource, RunLayout, RunPlan,
    RunSummary, Split, Validation, load_source, plan_run, select_instances, summarize_run_with,
};
use srl_sandbox::ApplyMethod;

use super::args::{
    CacheArgs, HostArgs, Paths, PolicyArgs, dataset_source, disk_note, finish_images, harness, source_name,
};
use crate::support::choice;
use crate::support::progress::{Tally, spinner};
use crate::support::runtime::block;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// `verified`, `lite`, `full` (SWE-bench's test splits, read from the local Hugging Face cache: the Parquet
    /// shards of the hub cache, or a JSON export in the datasets cache) or `bundled`
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
    pub agent: PolicyArgs,
    /// Only these instances (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub instance_ids: Vec<String>,
    /// Containers at once (on each Docker engine, see --docker-host).
    #[arg(long, default_value_t = 2)]
    pub max_workers: usize,
    #[command(flatten)]
    pub hosts: HostArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Time limit of each instance's tests, seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Run id (default: `<split or dataset>.<predictions or policy>`); re-running it skips graded instances.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Where `<run_id>/...` goes.
    #[arg(long, default_value = "logs")]
    pub report_dir: PathBuf,
    /// Grade again instances that already have a report.json in this run.
    #[arg(long)]
    pub rerun: bool,
    /// Grading rules: `5.x` (SWE-bench's current harness) or `4.x`.
    #[arg(long, default_value = "5.x", value_parser = choice::<Grading>())]
    pub grading: Grading,
    /// Validate the dataset's environments: grade the gold patches (run `<run-id>.gold`) and the empty patches,
    /// whose tests run on the unpatched repository (`<run-id>.empty`); then write validation.json and
    /// validation.md (gold resolved / empty resolved / errors per repository, every instance that is not a clean
    /// pass with its reason) into `<report-dir>/<run-id>.validation/`. Default run id: `<split or dataset>.validate`.
    #[arg(long, conflicts_with_all = ["predictions", "policy"])]
    pub validate: bool,
}

/// What both ways of running share once the arguments are read.
struct Run {
    source: DatasetSource,
    dataset: Vec<Instance>,
    instances: Vec<Instance>,
    options: HarnessOptions,
}

impl Run {
    fn layout(&self, args: &EvalArgs, name: &str) -> RunLayout {
        let run_id = args.run_id.clone().unwrap_or_else(|| format!("{}.{name}", source_name(&self.source)));
        RunLayout::new(&args.report_dir, &run_id)
    }
}

/// How [`grade_predictions`] runs: which predictions, the run's id, whether empty patches run as the control.
struct Grade<'a> {
    predictions: &'a str,
    layout: RunLayout,
    run_empty: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let source =
        dataset_source(args.split.as_deref(), args.paths.dataset.as_deref(), DatasetSource::Split(Split::Verified));
    let dataset = load_source(&source, &args.paths.bundled_root()).context("loading the dataset")?;
    let instances = select_instances(dataset.clone(), &args.instance_ids)?;
    let options = HarnessOptions {
        timeout: Duration::from_secs(args.timeout),
        grading: args.grading.config(),
        ..HarnessOptions::default()
    };
    let run = Run { source, dataset, instances, options };
    match (&args.agent.policy, args.validate) {
        (Some(_), _) => agent(&args, run),
        (None, true) => validate(&args, run),
        (None, false) => grade(&args, run),
    }
}

/// `--validate`: the gold run, the empty run (tests on the unpatched repository), then the validation table. Both
/// runs share one image cache: an instance image stays for the second run and goes after it.
fn validate(args: &EvalArgs, run: Run) -> anyhow::Result<()> {
    let base = args.run_id.clone().unwrap_or_else(|| format!("{}.validate", source_name(&run.source)));
    let passes = [("gold", false), ("empty", true)].map(|(predictions, run_empty)| Grade {
        predictions,
        layout: RunLayout::new(&args.report_dir, format!("{base}.{predictions}")),
        run_empty,
    });
    let planned = passes.iter().map(|g| plan_grading(args, &run, g)).collect::<anyhow::Result<Vec<_>>>()?;
    block(async {
        let hosts = args.hosts.connect(args.max_workers, Some(&base)).await?;
        let mut h = connect_harness(args, &run, &hosts).await?;
        if let Some(cache) = h.image_cache() {
            cache.plan(planned.iter().flat_map(|p| p.plan.to_run.iter().map(|(i, _)| i.instance_id.as_str())));
        }
        for (g, p) in passes.iter().zip(&planned) {
            grade_planned(&run, &mut h, g, p).await?;
        }
        finish_images(&h).await;
        Ok(())
    })?;
    let v = Validation::from_runs(&run.instances, &passes[0].layout, &passes[1].layout);
    let (json, md) = v.write(&args.report_dir.join(format!("{base}.validation")))?;
    let t = &v.total;
    println!(
        "validation: {} instances, gold resolved {}, empty resolved {}, errors {}",
        t.instances, t.gold_resolved, t.empty_resolved, t.errors
    );
    println!("validation table: {} ({})", md.display(), json.display());
    Ok(())
}

/// `--policy`: the agent's episode on each instance (resumed when its prediction exists), then its grading.
fn agent(args: &EvalArgs, run: Run) -> anyhow::Result<()> {
    let config = args.agent.config()?;
    let policy = args.agent.build()?;
    let spec = args.agent.policy.as_deref().unwrap_or("policy");
    let name = spec.trim_end_matches('/').rsplit('/').next().unwrap_or("policy").replace(':', "_");
    let layout = BenchLayout::new(run.layout(args, &name));
    println!(
        "run {}: agent {} ({} mode, {} steps max) on {} instances, {} at a time",
        layout.run.run_id,
        policy.model_name(),
        config.mode,
        config.max_steps,
        run.instances.len(),
        args.max_workers.max(1)
    );
    let result = block(async {
        let hosts = args.hosts.connect(args.max_workers, Some(&layout.run.run_id)).await?;
        let opts = BenchOptions { max_workers: hosts.total_capacity(), rerun: args.rerun };
        let h = connect_harness(args, &run, &hosts).await?;
        let mut tally = Tally::new(run.instances.len(), 0, 0);
        let agent = Agent { policy: &*policy, config: &config };
        let r = run_bench(&h, agent, &run.dataset, &run.instances, &layout, &opts, &mut |e| {
            tally.note(disk_note(&h));
            tally.record(e, e.resolved, matches!(e.verdict, Verdict::Error { .. }))
        })
        .await;
        tally.bar.finish_and_clear();
        let r = r?;
        finish_images(&h).await;
        Ok(r)
    })?;
    println!("predictions: {}", result.predictions_path.display());
    print_summary(&result.summary, &result.summary_path);
    Ok(())
}

/// `--predictions`: grades them (skipping instances graded earlier unless `--rerun`), then the summary.
fn grade(args: &EvalArgs, run: Run) -> anyhow::Result<()> {
    let Some(pred_arg) = args.predictions.as_deref() else {
        bail!(
            "give --predictions FILE (SWE-bench's predictions), `gold` or `empty`, --policy to run an agent, or \
             --validate"
        );
    };
    let name = match PredictionSource::parse(pred_arg) {
        PredictionSource::File(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        _ => pred_arg.to_string(),
    };
    let g = Grade { predictions: pred_arg, layout: run.layout(args, &name), run_empty: false };
    let planned = plan_grading(args, &run, &g)?;
    block(async {
        let hosts = args.hosts.connect(args.max_workers, Some(&g.layout.run_id)).await?;
        let mut h = connect_harness(args, &run, &hosts).await?;
        grade_planned(&run, &mut h, &g, &planned).await?;
        finish_images(&h).await;
        Ok(())
    })
}

/// The run's harness on `hosts`, its image cache on (`--cache-level`, `--clean`) before anything is built.
async fn connect_harness(args: &EvalArgs, run: &Run, hosts: &srl_sandbox::Hosts) -> anyhow::Result<Harness> {
    let spin = spinner();
    let h = harness(&args.paths, hosts, &spin, run.instances.clone(), run.options.clone())?;
    spin.finish_and_clear();
    Ok(args.cache.apply(h, &run.instances).await)
}

/// A set of predictions and the plan of its grading.
struct Planned {
    predictions: Vec<Prediction>,
    plan: RunPlan,
}

/// Loads the predictions of `g` and plans their grading (instances graded earlier skipped unless `--rerun`).
fn plan_grading(args: &EvalArgs, run: &Run, g: &Grade<'_>) -> anyhow::Result<Planned> {
    let Grade { predictions: pred_arg, ref layout, run_empty } = *g;
    let pred_source = PredictionSource::parse(pred_arg);
    let mut predictions =
        pred_source.load(&run.instances).with_context(|| format!("loading --predictions {pred_arg}"))?;
    if !args.instance_ids.is_empty() {
        let wanted: HashSet<&str> = args.instance_ids.iter().map(String::as_str).collect();
        predictions.retain(|p| wanted.contains(p.instance_id.as_str()));
    }
    let mut plan = plan_run(&run.instances, &predictions, layout, args.rerun)?;
    if run_empty {
        plan.run_empty_patches(&run.instances, &predictions, layout, args.rerun);
    }
    if !plan.unknown.is_empty() {
        let shown: Vec<&str> = plan.unknown.iter().take(5).map(String::as_str).collect();
        bail!(
            "{} prediction(s) name instances that are not in the dataset (e.g. {}); pick the dataset they were \
             made for with --split or --dataset, or select ids with --instance-ids",
            plan.unknown.len(),
            shown.join(" ")
        );
    }
    Ok(Planned { predictions, plan })
}

/// Grades a planned set of predictions into `g.layout` with `h`, prints and writes the summary.
async fn grade_planned(run: &Run, h: &mut Harness, g: &Grade<'_>, p: &Planned) -> anyhow::Result<()> {
    let Grade { ref layout, run_empty, .. } = *g;
    let Planned { predictions, plan } = p;
    h.options.run_empty = run_empty;
    println!(
        "run {}: {} to grade, {} already graded (skipped; --rerun grades them again), {} empty patches",
        layout.run_id,
        plan.to_run.len(),
        plan.already_graded.len(),
        plan.empty_patch.len()
    );
    let graded_earlier = |id: &String| {
        let p = predictions.iter().find(|p| &p.instance_id == id);
        p.and_then(|p| layout.read_report(&p.model_name_or_path, id)).is_some_and(|r| r.resolved)
    };
    let resolved = plan.already_graded.iter().filter(|id| graded_earlier(id)).count();
    let mut tally = Tally::new(plan.to_run.len(), plan.already_graded.len(), resolved);
    let h = &*h;
    h.run(layout, plan, h.hosts().total_capacity(), |ev| {
        let verdict = Verdict::of(ev);
        let fuzz = match ev.extras.patch_method.as_deref() {
            Some(m) if m != ApplyMethod::GitApply.command() && m != NO_PATCH => {
                format!(" [patch applied with `{m}`]")
            }
            _ => String::new(),
        };
        tally.note(disk_note(h));
        tally.record(format!("{}: {verdict}{fuzz}", ev.instance_id), ev.resolved(), ev.error().is_some());
    })
    .await?;
    tally.bar.finish_and_clear();
    let summary = summarize_run_with(&run.dataset, predictions, layout, run_empty);
    let path = layout.write_summary(&summary)?;
    print_summary(&summary, &path);
    Ok(())
}

/// Prints the end-of-run lines.
fn print_summary(s: &RunSummary, path: &Path) {
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
    let mut per_host: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for h in s.docker_hosts.values() {
        *per_host.entry(h).or_default() += 1;
    }
    if per_host.len() > 1 {
        let parts: Vec<String> = per_host.iter().map(|(h, n)| format!("{h} {n}")).collect();
        println!("instances per Docker host: {}", parts.join(", "));
    }
    let of_submitted = if s.submitted_instances != s.total_instances && s.submitted_instances > 0 {
        let rate = 100.0 * s.resolved_instances as f64 / s.submitted_instances as f64;
        format!(" ({rate:.1}% of the {} submitted)", s.submitted_instances)
    } else {
        String::new()
    };
    println!(
        "resolve rate: {}/{} = {:.1}% of the dataset{of_submitted}",
        s.resolved_instances,
        s.total_instances,
        100.0 * s.resolve_rate
    );
    println!("summary: {}", path.display());
}
