//! `srl-swe replay`: re-execute other agents' recorded actions in the sandbox, compare observations, grade the
//! patch, and keep the trajectories that check out.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use srl_core::Instance;
use srl_data::import::{Format, ImportOptions, read_paths};
use srl_eval::{
    DatasetSource, HarnessOptions, Keep, ReplayLayout, ReplayOptions, ReplayRunOptions, RunLayout, load_source,
};

use super::args::{CacheArgs, HostArgs, Paths, dataset_source, disk_note, finish_images, harness};
use crate::support::choice;
use crate::support::progress::{Tally, spinner};
use crate::support::runtime::block;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Trajectory files or folders, in any format `srl-swe data import` reads.
    #[arg(required = true)]
    pub trajectories: Vec<PathBuf>,
    /// Force the trajectory format (default: detected per record).
    #[arg(long, default_value = "auto", value_parser = choice::<Format>())]
    pub format: Format,
    /// `verified`, `lite`, `full` or `bundled` (default: bundled, unless --dataset is given).
    #[arg(long, conflicts_with = "dataset")]
    pub split: Option<String>,
    #[command(flatten)]
    pub paths: Paths,
    /// Write the replayed trajectories that pass this check to `<run>/kept.jsonl` (SWE-smith records with the new
    /// observations, readable by `srl-swe train`): `resolved`, `reproducible` (every observation matches) or
    /// `verified` (both).
    #[arg(long, value_parser = choice::<Keep>())]
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
    /// Trajectories replayed at once (on each Docker engine, see --docker-host).
    #[arg(long, default_value_t = 2)]
    pub max_workers: usize,
    #[command(flatten)]
    pub hosts: HostArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[arg(long, default_value = "replay")]
    pub run_id: String,
    #[arg(long, default_value = "logs")]
    pub report_dir: PathBuf,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let imported = read_paths(&args.trajectories, &ImportOptions { format: args.format, skip_invalid: false })?;
    if imported.trajectories.is_empty() {
        bail!("no trajectories found in {:?}", args.trajectories);
    }
    let source = dataset_source(args.split.as_deref(), args.paths.dataset.as_deref(), DatasetSource::Bundled);
    let dataset = load_source(&source, &args.paths.bundled_root()).context("loading the dataset")?;
    let layout = ReplayLayout::new(RunLayout::new(&args.report_dir, &args.run_id));
    let mut opts = ReplayRunOptions {
        replay: ReplayOptions {
            step_timeout: Duration::from_secs(args.step_timeout),
            diverge_below: args.threshold,
            ..ReplayOptions::default()
        },
        max_workers: args.max_workers,
        keep: args.keep,
    };
    let hopts = HarnessOptions { timeout: Duration::from_secs(args.timeout), ..HarnessOptions::default() };
    let n = imported.trajectories.len();
    let run = block(async {
        let hosts = args.hosts.connect(args.max_workers, Some(&args.run_id)).await?;
        opts.max_workers = hosts.total_capacity();
        let spin = spinner();
        let h = harness(&args.paths, &hosts, &spin, dataset.clone(), hopts)?;
        spin.finish_and_clear();
        // The image cache covers the instances replayed; each trajectory is one use of its instance.
        let wanted: HashSet<&str> = imported.trajectories.iter().map(|t| t.instance_id.as_str()).collect();
        let replayed: Vec<Instance> =
            dataset.iter().filter(|i| wanted.contains(i.instance_id.as_str())).cloned().collect();
        let h = args.cache.apply(h, &replayed).await;
        if let Some(cache) = h.image_cache() {
            cache.plan(imported.trajectories.iter().map(|t| t.instance_id.as_str()));
        }
        let mut tally = Tally::new(n, 0, 0);
        let run = srl_eval::replay_run(&h, &dataset, &imported.trajectories, &layout, &opts, &mut |r| {
            tally.note(disk_note(&h));
            tally.record(r.line(), r.resolved == Some(true), r.error.is_some())
        })
        .await;
        tally.bar.finish_and_clear();
        let run = run?;
        finish_images(&h).await;
        Ok(run)
    })?;
    if let Some((k, path)) = &run.kept {
        println!("kept {k} of {n} trajectories: {}", path.display());
    }
    println!("{}", run.summary.line());
    println!("summary: {}", run.summary_path.display());
    Ok(())
}
