//! `srl-swe train`: SRL (GRPO with dynamic sampling) or the SFT baseline from a TOML config.

use std::path::PathBuf;

use anyhow::Context;
use srl_train::{StepRecord, TrainConfig, Trainer};

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
    let steps = cfg.algorithm.steps;
    eprintln!("loading data and model ({})", cfg.model.path);
    let mut trainer = Trainer::new(cfg, &args.root, &args.out, args.resume)
        .with_context(|| format!("preparing the run in {}", args.out.display()))?;
    eprintln!("{} trainable parameters; run folder {}", trainer.policy().num_trainable_params(), args.out.display());
    let stop = crate::support::runtime::stop_flag();
    let bar = crate::support::progress::bar(steps);
    bar.set_position(trainer.step() as u64);
    let mut running: Option<f64> = None;
    let mut on_step = |r: &StepRecord| {
        bar.set_position(r.step as u64);
        let mut msg = match r.reward_mean {
            Some(x) => {
                let avg = running.map_or(x, |a| 0.9 * a + 0.1 * x);
                running = Some(avg);
                format!("grpo reward {x:.3} (avg {avg:.3}) fmt {:.2}", r.format_rate.unwrap_or(0.0))
            }
            None => format!("{} loss {:.4}", r.phase, r.loss),
        };
        if let Some(v) = &r.valid {
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
