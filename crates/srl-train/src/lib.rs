//! The SRL trainer: GRPO with dynamic sampling on the step-wise similarity reward (Supervised Reinforcement
//! Learning, Deng et al. 2025), and the SFT baseline, on a candle [`srl_policy::Policy`]. Resumable, with
//! metrics, plots and checkpoints under a run folder.
//!
//! # Code map
//! * [`config`]: the TOML config, every key with its default; `--set` overrides.
//! * [`grpo`]: advantages, the dynamic-sampling filter, the clipped surrogate, k3 KL, token means.
//! * [`optim`]: AdamW with exportable state, gradient accumulation and clipping, the LR schedule.
//! * [`data`]: path patterns, the train/validation split, SFT targets.
//! * [`trainer`]: the loop: SFT and GRPO steps, validation, metrics, checkpoints, resume.
//! * [`checkpoint`]: atomic checkpoint folders, pruning.
//! * [`plot`]: SVG and PNG line plots without dependencies.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod grpo;
pub mod optim;
pub mod plot;
pub mod trainer;

pub use config::TrainConfig;
pub use error::{Result, TrainError};
pub use trainer::{RunSummary, StepRecord, Trainer, ValidRecord};

/// Sets `stop` on Ctrl-C (the trainer then writes a checkpoint and returns); a second Ctrl-C exits at once.
/// For command lines; a failure to install the handler is logged, not fatal.
pub fn install_ctrlc(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let r = ctrlc::set_handler(move || {
        if stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if let Err(e) = r {
        tracing::warn!(error = %e, "cannot install the Ctrl-C handler");
    }
}
