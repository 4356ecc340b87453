//! `srl-swe train`: SRL (GRPO with dynamic sampling), the SFT baseline, RLVR (episodes in the sandbox, rewarded by
//! their graded outcome), or a curriculum of them, from a TOML config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use srl_eval::{DatasetSource, HarnessOptions};
use srl_train::rlvr::{self, SandboxRunner};
use srl_train::trainer::RlvrEnv;
use srl_train::{StepRecord, TrainConfig, Trainer};

use super::args::{HostArgs, Paths, harness};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The run's TOML config (every key is optional; see configs/quickstart.toml for all of them). With --resume
    /// it may be left out: the run folder's resolved config.toml is used.
    #[arg(long, required_unless_present = "resume")]
    config: Option<PathBuf>,
    /// Override a config key, e.g. `--set grpo.group_size=4 --set model.path=models/x` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// The run folder: config.toml (resolved), metrics.jsonl, plots/, checkpoints/, final/.
    #[arg(long)]
    out: PathBuf,
    /// Continue from the run folder's latest checkpoint (its config.toml, unless --config is given too).
    #[arg(long)]
    resume: bool,
    /// Folder that relative data paths in the config are relative to.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Print the resolved config and exit.
    #[arg(long)]
    print_config: bool,
    /// RLVR: a folder of git mirrors (`owner__name`) for the repositories of `rlvr.tasks` (a SWE-bench dataset).
    #[arg(long, env = "SRL_MIRROR_DIR")]
    mirror_dir: Option<PathBuf>,
    #[command(flatten)]
    hosts: HostArgs,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(c) => c.clone(),
        None => args.out.join(srl_train::trainer::CONFIG),
    };
    if !config.exists() {
        anyhow::bail!("{}: no such config file", config.display());
    }
    let cfg = TrainConfig::from_file(&config, &args.sets)?;
    if args.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let steps = cfg.total_steps();
    for (i, st) in cfg.stages.iter().enumerate() {
        eprintln!("stage {i}: {} for {} steps", st.kind, st.steps);
    }
    eprintln!("loading data and model ({})", cfg.model.path);
    let rlvr_cfg = cfg.clone();
    let mut trainer = Trainer::new(cfg, &args.root, &args.out, args.resume)
        .with_context(|| format!("preparing the run in {}", args.out.display()))?;
    // RLVR's episodes run on this runtime (kept until the run ends).
    let mut _runtime = None;
    if rlvr_cfg.needs_rlvr() {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let env = rlvr_env(&args, &rlvr_cfg, rt.handle()).context("preparing RLVR's sandbox")?;
        eprintln!(
            "RLVR: {} training task(s), {} held out; {} container(s) at once",
            env.train.len(),
            env.valid.len(),
            rlvr_cfg.rlvr.concurrency
        );
        trainer = trainer.with_rlvr(env)?;
        _runtime = Some(rt);
    }
    eprintln!("{} trainable parameters; run folder {}", trainer.policy().num_trainable_params(), args.out.display());
    let stop = crate::support::runtime::stop_flag();
    let bar = crate::support::progress::bar(steps);
    bar.set_position(trainer.step() as u64);
    let mut running: Option<f64> = None;
    let mut on_step = |r: &StepRecord| {
        bar.set_position(r.step as u64);
        let mut msg = match (r.reward_mean, &r.rlvr) {
            (Some(x), Some(e)) => format!(
                "rlvr reward {x:.3} resolved {:.2} ({} episodes, {:.1} turns)",
                e.resolve_rate, e.episodes, e.turns_mean
            ),
            (Some(x), None) => {
                let avg = running.map_or(x, |a| 0.9 * a + 0.1 * x);
                running = Some(avg);
                format!("grpo reward {x:.3} (avg {avg:.3}) fmt {:.2}", r.format_rate.unwrap_or(0.0))
            }
            (None, _) => format!("{} loss {:.4}", r.phase, r.loss),
        };
        if let Some(v) = r.valid.as_ref().filter(|v| v.resolve_rate.is_some()) {
            let rate = v.resolve_rate.unwrap_or_default();
            msg.push_str(&format!(" | valid resolved {rate:.2}"));
            bar.println(format!(
                "step {}: valid resolve rate {rate:.3} over {} episode(s){}",
                r.step,
                v.examples,
                if v.on_train { " (training tasks)" } else { "" }
            ));
        } else if let Some(v) = &r.valid {
            msg.push_str(&format!(" | valid sim {:.3} fmt {:.2}", v.similarity, v.format_rate));
            bar.println(format!(
                "step {}: valid similarity {:.3}, format {:.2}, reward {:.3}",
                r.step, v.similarity, v.format_rate, v.reward_mean
            ));
        }
        bar.set_message(msg);
    };
    let summary = trainer.run(&stop, &mut on_step)?;
    bar.finish();
    if summary.interrupted {
        eprintln!("interrupted at step {}; resume with --resume", summary.steps);
    } else {
        eprintln!("done: {} steps; metrics in {}", summary.steps, args.out.join(srl_train::trainer::METRICS).display());
    }
    if let Some(c) = summary.last_checkpoint {
        eprintln!("last checkpoint: {}", c.display());
    }
    Ok(())
}

/// RLVR's sandbox: the tasks of `rlvr.tasks` split into training and held-out ones, the local Docker engine (or
/// `--docker-host`s), images built as `srl-swe eval` builds them, the agent's settings from the config.
fn rlvr_env(args: &TrainArgs, cfg: &TrainConfig, handle: &tokio::runtime::Handle) -> anyhow::Result<RlvrEnv> {
    let dataset = match cfg.rlvr.tasks.as_str() {
        "bundled" => None,
        path => Some(args.root.join(path)),
    };
    let paths = Paths {
        docker_dir: None,
        env_dir: None,
        tasks_dir: None,
        dataset: dataset.clone(),
        mirror_dir: args.mirror_dir.clone(),
        image_source: srl_sandbox::ImageSourceKind::Local,
        image_template: srl_sandbox::ImageSource::SWEBENCH_TEMPLATE.to_string(),
    };
    let source = match &dataset {
        None => DatasetSource::Bundled,
        Some(p) => DatasetSource::File(p.clone()),
    };
    let all = srl_eval::load_source(&source, &paths.bundled_root())
        .with_context(|| format!("`rlvr.tasks` {:?}", cfg.rlvr.tasks))?;
    let (train, valid) = rlvr::split_tasks(all.clone(), &cfg.rlvr).map_err(anyhow::Error::msg)?;
    let run_id = run_id(&args.out);
    let hosts = handle.block_on(args.hosts.connect(cfg.rlvr.concurrency, Some(&run_id)))?;
    let options = HarnessOptions { timeout: Duration::from_secs(cfg.rlvr.eval_timeout_s), ..HarnessOptions::default() };
    let spin = crate::support::progress::spinner();
    let harness = harness(&paths, &hosts, &spin, all, options)?;
    spin.finish_and_clear();
    let agent = rlvr::agent_config(srl_train::data::prompt_config(&cfg.data), &cfg.rlvr);
    let runner = SandboxRunner { harness, agent };
    Ok(RlvrEnv { runner: Box::new(runner), handle: handle.clone(), train, valid })
}

/// The label RLVR's containers carry: the run folder's name.
fn run_id(out: &Path) -> String {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "train".into());
    format!("train-{name}")
}
