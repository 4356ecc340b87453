//! The SRL trainer: GRPO with dynamic sampling on the step-wise similarity reward (Supervised Reinforcement
//! Learning, Deng et al. 2025), the SFT baseline, and RLVR over whole agent episodes graded in the sandbox, alone
//! or as the stages of one curriculum, on a candle [`srl_policy::Policy`]. Resumable, with metrics, plots and
//! checkpoints under a run folder.
//!
//! # Code map
//! * [`config`]: the TOML config, every key with its default; `--set` overrides.
//! * [`grpo`]: advantages, the dynamic-sampling filter, the clipped surrogate, k3 KL, token means.
//! * [`optim`]: AdamW with exportable state, gradient accumulation and clipping, the LR schedule.
//! * [`data`]: path patterns, the train/validation split, SFT targets.
//! * [`trainer`]: the loop: SFT, GRPO and RLVR steps by stage, validation, metrics, checkpoints, resume.
//! * [`rlvr`]: RLVR's episodes: the [`rlvr::EpisodeRunner`] seam (Docker through srl-agent and srl-eval), the
//!   lockstep turn server, rewards and masks.
//! * [`checkpoint`]: atomic checkpoint folders, pruning.
//! * [`plot`]: PNG and SVG line plots (plotters, with a bundled font).
//! * [`steps`]: step-level evaluation ([`evaluate_steps`]), the validation of the trainer and `srl-swe model eval-steps`.
//!
//! # Run folder
//! ```text
//! DIR/config.toml                 the resolved config (every key)
//! DIR/metrics.jsonl               one line per step (StepRecord)
//! DIR/plots/{reward,valid_similarity,loss}.{png,svg}   rewritten at every checkpoint
//! DIR/checkpoints/step-NNNNNNNN/  trainable.safetensors (exact weights by name), optimizer.safetensors (AdamW m,
//!                                 v, t), state.json (step, data cursor, ChaCha8 seed + word position, best
//!                                 validation, elapsed), adapter/ (PEFT, under LoRA)
//! DIR/checkpoints/latest          the name of the newest; best.json: the best step by validation similarity
//! DIR/final/                      adapter/ (LoRA) or model/ (full) and prompt.json (srl_policy::TrainedModel)
//! DIR/rollouts.jsonl              RLVR: one line per episode (rlvr::RolloutRecord); kept up to the checkpoint on resume
//! ```
//! A checkpoint is written into `.tmp-step-N/` and renamed; every file outside it (`latest`, `best.json`,
//! `config.toml`, the plots, the metrics kept on resume) goes through `srl_core::fs::write_atomic`. The last
//! `checkpoint.keep_last` and the best by validation are kept, and a new best validation is checkpointed at once
//! (even off the `checkpoint.every` cadence), so `best.json` always names an existing folder. On resume the
//! metrics lines after the checkpoint's step are dropped (they belong to the lost tail), and the run continues
//! exactly: same weights, optimizer moments, data position and sampling seeds. Stopping is the caller's: set the
//! `AtomicBool` given to [`Trainer::run`] (the command line does on Ctrl-C) and the trainer writes a checkpoint
//! and returns.
//!
//! # Algorithm
//! * GRPO step: draw prompts from the data stream (a seeded permutation per epoch; the cursor is saved), sample G
//!   completions per prompt in one batch, score each with `srl_reward::Scorer` (-1 when malformed), normalize
//!   advantages within each group, `(r - mean) / (std + 1e-6)` (population std). Dynamic sampling drops groups
//!   whose reward std is at most `grpo.std_eps` and samples more prompts until `prompts_per_batch` groups are kept,
//!   at most `max_sampling_rounds` rounds (then a warning and a partial batch). Loss: `-sum_tokens min(ratio A,
//!   clip(ratio, 1-eps, 1+eps_high) A) / N_tokens(batch) + beta * sum k3 / N_tokens`, with k3 = `exp(ref - logp) -
//!   (ref - logp) - 1`; micro-batches divide by the whole batch's token count, so the accumulated gradient is the
//!   token-level mean. With `updates_per_batch = 1` the old log-probs are the detached current ones (ratio 1);
//!   with more, the sampler's per-token log-probs. Then global gradient-norm clipping and AdamW.
//! * RLVR step: draw tasks (a seeded permutation per epoch, its cursor saved), run G episodes of each through
//!   [`rlvr::rollouts`] (turns sampled in lockstep batches at `[sampling]`), reward each from its grading
//!   ([`rlvr::episode_reward`]: binary or partial, a format-error penalty, masks), normalise within the task's
//!   group, drop groups with equal rewards (dynamic sampling, as above), and train every turn of the kept episodes
//!   as a row (prompt as sampled, completion as target) with its episode's advantage, through the same loss.
//! * SFT step: cross-entropy (token mean) of `<think>\n{expert thought or "Next step."}\n</think>\n{expert
//!   action}<|im_end|>` given the prompt.
//! * Schedule: linear warm-up, then constant or cosine to `min_lr_ratio`; `sft.lr` (if > 0) replaces the peak
//!   during SFT steps.
//! * AdamW is our own because candle's cannot export or import its moments, and an exact resume needs them: it is
//!   bias-corrected, decays (decoupled) only variables whose name contains none of `optimizer.no_decay`, and saves
//!   its state as safetensors.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod grpo;
pub mod optim;
pub mod plot;
pub mod rlvr;
pub mod steps;
pub mod trainer;

pub use config::TrainConfig;
pub use error::{Result, TrainError};
pub use steps::{StepEvalOptions, StepEvalSummary, StepResult, evaluate_steps};
pub use trainer::{RunSummary, StepRecord, Trainer, ValidRecord};
