//! `srl-swe rollout`: run a policy as an agent on a few tasks and print each step live.

use std::path::PathBuf;

use anyhow::Context;
use srl_agent::StepEvent;
use srl_eval::{DatasetSource, HarnessOptions, load_source, select_instances};

use super::args::{CacheArgs, HostArgs, Paths, PolicyArgs, dataset_source, finish_images, harness};
use crate::support::progress::spinner;
use crate::support::runtime::block;

#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Instance id(s) to run (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    pub task: Vec<String>,
    /// `verified`, `lite`, `full` or `bundled` (default: bundled, unless --dataset is given).
    #[arg(long, conflicts_with = "dataset")]
    pub split: Option<String>,
    #[command(flatten)]
    pub paths: Paths,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub hosts: HostArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Episodes per task (episode e samples with seed + 1000 e).
    #[arg(long, default_value_t = 1)]
    pub episodes: usize,
    /// Write each episode's trajectory (canonical JSONL) and episode.json under this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print each raw completion too.
    #[arg(long)]
    pub raw: bool,
    /// Lines of each observation printed (the trajectory keeps all of it).
    #[arg(long, default_value_t = 30)]
    pub show_lines: usize,
}

pub fn run(args: RolloutArgs) -> anyhow::Result<()> {
    let source = dataset_source(args.split.as_deref(), args.paths.dataset.as_deref(), DatasetSource::Bundled);
    let dataset = load_source(&source, &args.paths.bundled_root()).context("loading the dataset")?;
    let instances = select_instances(dataset, &args.task)?;
    let config = args.policy.config()?;
    let mut pargs = args.policy.clone();
    block(async {
        let hosts = args.hosts.connect(1, None).await?;
        let spin = spinner();
        let h = harness(&args.paths, &hosts, &spin, instances.clone(), HarnessOptions::default())?;
        spin.finish_and_clear();
        let h = args.cache.apply(h, &instances).await;
        for inst in &instances {
            for e in 0..args.episodes.max(1) {
                pargs.seed = args.policy.seed + 1000 * e as u64;
                let policy = pargs.build()?;
                let (raw, n) = (args.raw, args.show_lines);
                let mut show = |ev: &StepEvent| print_event(ev, raw, n);
                let placed = h
                    .in_container(inst, async |c| srl_agent::run_episode(&*policy, c, inst, &config, &mut show).await)
                    .await
                    .map_err(|(_, m)| anyhow::anyhow!("{}: {m}", inst.instance_id))?;
                let ep = placed.value?;
                if let Some(out) = &args.out {
                    let dir = out.join(format!("{}-{e}", inst.instance_id));
                    srl_agent::bench::write_episode(&ep, &dir)?;
                    println!("wrote {}", dir.display());
                }
            }
            h.instance_done(inst).await;
        }
        finish_images(&h).await;
        Ok(())
    })
}

/// The first `n` lines of `s`, and how many were left out.
fn head(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let mut out = lines[..lines.len().min(n)].join("\n");
    if lines.len() > n {
        out += &format!("\n[... {} more lines]", lines.len() - n);
    }
    out
}

fn print_event(ev: &StepEvent, raw: bool, lines: usize) {
    match ev {
        StepEvent::Started { instance_id, model, mode } => {
            println!("=== {instance_id} with {model} ({mode} mode)");
        }
        StepEvent::Completion { turn, text, usage } => {
            if raw {
                println!(
                    "--- completion {} ({:?} prompt, {:?} completion tokens)\n{text}",
                    turn + 1,
                    usage.prompt,
                    usage.completion
                );
            }
        }
        StepEvent::Action { step_index, step, exit_code, timed_out, tool_error, .. } => {
            println!("--- step {}", step_index + 1);
            if !step.thought.trim().is_empty() {
                println!("THOUGHT: {}", step.thought.trim());
            }
            println!("ACTION:\n{}", step.action.render());
            let status = match (exit_code, timed_out, tool_error) {
                (_, true, _) => " (timed out)".to_string(),
                (_, _, true) => " (tool error)".to_string(),
                (Some(c), _, _) if *c != 0 => format!(" (exit {c})"),
                _ => String::new(),
            };
            println!("OBSERVATION{status}:\n{}", head(&step.observation, lines));
        }
        StepEvent::FormatError { turn, error, consecutive, .. } => {
            println!("--- call {}: format error ({consecutive} in a row): {error}", turn + 1);
        }
        StepEvent::Finished { exit, steps, actions, format_errors } => {
            println!("=== {} after {steps} calls: {actions} actions, {format_errors} format errors", exit.as_str());
        }
    }
}
