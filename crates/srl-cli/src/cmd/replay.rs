//! `srl-swe replay`: re-execute other agents' recorded actions in the sandbox, compare observations, grade the
//! patch, and keep the trajectories that check out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use srl_data::import::{Format, ImportOptions, read_paths};
use srl_eval::{
    ErrorKind, HarnessOptions, ReplayOptions, ReplayReport, ReplaySummary, Replayed, RunLayout, load_source,
};

use super::eval::{dataset_source, harness, instance_bar, say, tail_lines};
use super::io::{write_json_atomic, write_jsonl_atomic};
use super::sandbox::{Paths, block, connect, spinner};

/// Which replayed trajectories `--keep` writes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Keep {
    /// Graded resolved.
    Resolved,
    /// Every step's observation at or above the divergence threshold (resolved or not).
    Reproducible,
    /// Both.
    Verified,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Trajectory files or folders, in any format `srl-swe data import` reads.
    #[arg(required = true)]
    pub trajectories: Vec<PathBuf>,
    /// Force the trajectory format (default: detected per record).
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// `verified`, `lite`, `full` or `bundled` (default: bundled, unless --dataset is given).
    #[arg(long, conflicts_with = "dataset")]
    pub split: Option<String>,
    #[command(flatten)]
    pub paths: Paths,
    /// Write the replayed trajectories that pass this check to `<run>/kept.jsonl` (SWE-smith records with the new
    /// observations, readable by `srl-swe train`).
    #[arg(long, value_enum)]
    pub keep: Option<Keep>,
    /// A step diverges when its observation's similarity to the recorded one is below this.
    #[arg(long, default_value_t = 0.8)]
    pub threshold: f64,
    /// Time limit of each bash action, seconds.
    #[arg(long, default_value_t = 120)]
    pub step_timeout: u64,
    /// Time limit of the grading tests, seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Trajectories replayed at once.
    #[arg(long, default_value_t = 2)]
    pub max_workers: usize,
    #[arg(long, default_value = "replay")]
    pub run_id: String,
    #[arg(long, default_value = "logs")]
    pub report_dir: PathBuf,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let format: Format = args.format.parse().map_err(|e: String| anyhow::anyhow!("--format: {e}"))?;
    let imported = read_paths(&args.trajectories, &ImportOptions { format, skip_invalid: false })?;
    if imported.trajectories.is_empty() {
        bail!("no trajectories found in {:?}", args.trajectories);
    }
    let split = args.split.clone().unwrap_or_else(|| "bundled".into());
    let source = dataset_source(Some(&split), args.paths.dataset.as_deref());
    let dataset = load_source(&source, Path::new(".")).context("loading the dataset")?;
    let by_id: HashMap<&str, &srl_core::Instance> = dataset.iter().map(|i| (i.instance_id.as_str(), i)).collect();
    let layout = RunLayout::new(&args.report_dir, &args.run_id);
    let run_dir = layout.run_dir();
    let opts = ReplayOptions {
        step_timeout: Duration::from_secs(args.step_timeout),
        diverge_below: args.threshold,
        ..ReplayOptions::default()
    };
    let hopts = HarnessOptions { timeout: Duration::from_secs(args.timeout), ..HarnessOptions::default() };
    let n = imported.trajectories.len();
    let results = block(async {
        let sb = connect().await?.with_run_id(args.run_id.clone());
        let spin = spinner();
        let h = harness(&args.paths, &sb, &spin, dataset.clone(), hopts)?;
        spin.finish_and_clear();
        let bar = instance_bar(n);
        let (mut resolved, mut done) = (0usize, 0usize);
        let mut out = Vec::new();
        let jobs = imported.trajectories.iter().enumerate().map(|(i, t)| {
            let (h, opts) = (&h, &opts);
            let inst = by_id.get(t.instance_id.as_str()).copied();
            async move {
                let r = match inst {
                    Some(inst) => srl_eval::replay(h, inst, t, opts).await,
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
        use futures_util::StreamExt;
        let mut stream = futures_util::stream::iter(jobs).buffer_unordered(args.max_workers.max(1));
        while let Some((i, r)) = stream.next().await {
            let name = report_name(&r.report, i);
            let dir = run_dir.join("replay").join(&name);
            write_json_atomic(&dir.join("replay.json"), &r.report)?;
            let rec = srl_data::swe_smith::to_record(&r.trajectory);
            write_json_atomic(&dir.join("trajectory.json"), &rec)?;
            if let Some(ev) = &r.evaluation {
                ev.write(&layout)?;
            }
            done += 1;
            resolved += usize::from(r.report.resolved == Some(true));
            say(&bar, line(&r.report));
            bar.set_message(format!("resolved {resolved}/{done}"));
            bar.inc(1);
            out.push((i, r));
        }
        bar.finish_and_clear();
        out.sort_by_key(|(i, _)| *i);
        Ok(out.into_iter().map(|(_, r)| r).collect::<Vec<_>>())
    })?;
    let reports: Vec<ReplayReport> = results.iter().map(|r| r.report.clone()).collect();
    let summary = ReplaySummary::build(&reports);
    let path = run_dir.join("replay_summary.json");
    write_json_atomic(&path, &summary)?;
    if let Some(keep) = args.keep {
        let kept: Vec<serde_json::Value> = results
            .iter()
            .filter(|r| {
                let res = r.report.resolved == Some(true);
                let rep = r.report.first_divergence.is_none() && r.report.steps_replayed > 0;
                match keep {
                    Keep::Resolved => res,
                    Keep::Reproducible => rep,
                    Keep::Verified => res && rep,
                }
            })
            .map(|r| srl_data::swe_smith::to_record(&r.trajectory))
            .collect();
        let kept_path = run_dir.join("kept.jsonl");
        write_jsonl_atomic(&kept_path, &kept)?;
        println!("kept {} of {n} trajectories: {}", kept.len(), kept_path.display());
    }
    println!(
        "replayed {n}: resolved {} | unresolved {} | errors {} | reproducible {} | mean observation similarity {:.3}",
        summary.resolved, summary.unresolved, summary.errors, summary.reproducible, summary.mean_similarity
    );
    println!("summary: {}", path.display());
    Ok(())
}

/// A folder name per trajectory: the instance id, with the input position when ids repeat.
fn report_name(r: &ReplayReport, index: usize) -> String {
    format!("{:04}-{}", index + 1, r.instance_id.replace(['/', '\\'], "_"))
}

fn line(r: &ReplayReport) -> String {
    let verdict = match (r.resolved, &r.error) {
        (Some(true), _) => "resolved".to_string(),
        (Some(false), _) => "not resolved".to_string(),
        (None, Some(e)) => format!("error: {}", tail_lines(e, 2)),
        (None, None) => "not graded".to_string(),
    };
    let div = match &r.first_divergence {
        Some(d) => format!(", first diverging step {} ({}, similarity {:.2})", d.step, d.tool, d.similarity),
        None => String::new(),
    };
    format!(
        "{} ({}): {verdict}; {}/{} steps, {} errored, mean similarity {:.3}{div}",
        r.instance_id, r.source, r.steps_replayed, r.steps_total, r.steps_errored, r.mean_similarity
    )
}
