//! The training config: a TOML file whose every key has a default (see [`TrainConfig`] and the field docs),
//! overridden by `--set key=value`. Unknown keys and wrong types are errors naming the key.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use srl_core::{DTypeSpec, DeviceSpec, SamplingParams, SystemPrompt, TaskPrompt, Window};
use srl_policy::Preset;
use srl_reward::Metric;

use crate::error::{Result, TrainError};

/// The whole config. Every section and key is optional; the defaults are those of [`Default`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub data: DataConfig,
    pub algorithm: AlgorithmConfig,
    pub grpo: GrpoConfig,
    /// Rollout sampling (`temperature`, `top_p`, `top_k`, `max_new_tokens`; defaults 1.0, 1.0, 0, 512).
    pub sampling: SamplingParams,
    pub sft: SftConfig,
    pub optimizer: OptimizerConfig,
    pub schedule: ScheduleConfig,
    pub lora: LoraSection,
    pub validation: ValidationConfig,
    pub checkpoint: CheckpointConfig,
    pub logging: LoggingConfig,
    /// RLVR: episodes in the sandbox, rewarded by the test outcome (`algorithm.kind = "rlvr"` or an `rlvr` stage).
    pub rlvr: RlvrConfig,
    /// A curriculum: `[[stages]]` run one after the other in one run folder (for example SRL, then RLVR). When
    /// given, they replace `algorithm.kind` and `algorithm.steps` (the run has the sum of their steps). Default
    /// none: one stage of `algorithm.kind` for `algorithm.steps`.
    pub stages: Vec<Stage>,
}

/// `[model]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Hugging Face folder or cached repo id. Default `"models/tiny"`. Relative paths are relative to the
    /// working directory.
    pub path: String,
    /// When `path` does not exist: create a random model of this preset there (`"tiny"`, `"small"`,
    /// `"qwen2.5-0.5b-shapes"`); `""` (default, `None`) makes a missing model an error.
    #[serde(with = "preset_or_empty")]
    pub init_preset: Option<Preset>,
    /// Seed of `init_preset`'s weights. Default 0.
    pub init_seed: u64,
    /// `"cpu"` (default) or `"cuda"` / `"cuda:N"`.
    pub device: DeviceSpec,
    /// `"auto"` (default: f32 on CPU, bf16 on CUDA), `"f32"`, `"bf16"`, `"f16"`.
    pub dtype: DTypeSpec,
    /// `"lora"` (default) or `"full"`.
    pub training: TrainingMode,
    /// Prompts longer than this lose history from the left (system and task are kept); 0: no limit. Default 4096.
    pub max_prompt_tokens: usize,
    /// Gradient checkpointing (Hugging Face's name): the training forward keeps each layer's input only and the
    /// backward recomputes one layer at a time. The same gradients for about a third more compute; activation
    /// memory of one layer instead of all (a 0.5B GRPO micro-batch of 4 x 1,128 tokens does not fit in 24 GB
    /// without it). Default true.
    pub gradient_checkpointing: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            path: "models/tiny".into(),
            init_preset: None,
            init_seed: 0,
            device: DeviceSpec::Cpu,
            dtype: DTypeSpec::Auto,
            training: TrainingMode::Lora,
            max_prompt_tokens: 4096,
            gradient_checkpointing: true,
        }
    }
}

srl_core::choice_enum! {
    /// `model.training`: which weights a run trains (the policy crate's [`srl_policy::Training`] is built from it).
    #[derive(Default)]
    pub enum TrainingMode: "model.training" {
        /// LoRA adapters on frozen base weights.
        #[default]
        Lora = "lora",
        /// Every weight.
        Full = "full",
    }
}

srl_core::choice_enum! {
    /// `algorithm.kind`: what the run optimizes.
    #[derive(Default)]
    pub enum AlgorithmKind: "algorithm.kind" {
        /// SRL: GRPO on the step-wise similarity reward, after `sft.warmup_steps` SFT steps.
        #[default]
        Srl = "srl",
        /// Supervised fine-tuning on the expert targets for every step.
        Sft = "sft",
        /// RLVR: GRPO over whole agent episodes in the sandbox, rewarded by the graded outcome (`[rlvr]`).
        Rlvr = "rlvr",
    }
}

srl_core::choice_enum! {
    /// `rlvr.reward`: an episode's reward from its grading.
    #[derive(Default)]
    pub enum RlvrReward: "rlvr.reward" {
        /// 1 when resolved (every FAIL_TO_PASS and PASS_TO_PASS test passes), else 0.
        #[default]
        Binary = "binary",
        /// 1 when resolved; else, when every PASS_TO_PASS test still passes, the fraction of FAIL_TO_PASS tests that
        /// pass; else 0.
        Partial = "partial",
    }
}

srl_core::choice_enum! {
    /// `schedule.kind`: the learning rate after the warm-up.
    #[derive(Default)]
    pub enum ScheduleKind: "schedule.kind" {
        /// The peak for every step.
        #[default]
        Constant = "constant",
        /// Cosine decay from the peak to `min_lr_ratio` times the peak at the last step.
        Cosine = "cosine",
    }
}

/// One `[[stages]]` entry of a curriculum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// `"srl"` (GRPO on the step similarity, after `sft.warmup_steps` SFT steps counted from the stage's start),
    /// `"sft"` or `"rlvr"`.
    pub kind: AlgorithmKind,
    /// Optimizer steps of the stage (at least 1).
    pub steps: usize,
    /// The stage's peak learning rate; absent: `optimizer.lr` (and `sft.lr` for SFT steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
}

/// `[rlvr]`: where episodes run and how they are rewarded. The prompts are the `[data]` ones (window, system and
/// task messages, cuts, prefill), so the agent sees what SRL trained on; `[sampling]` samples every turn;
/// `grpo.prompts_per_batch` tasks of `grpo.group_size` episodes each make a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlvrConfig {
    /// The tasks: `"bundled"` (default: the tasks under tasks/), or a SWE-bench dataset file (JSONL, JSON or
    /// Parquet; images are built as `srl-swe eval` builds them, from `--mirror-dir` for real repositories).
    pub tasks: String,
    /// Train on these instance ids only (default: every task not held out).
    pub instance_ids: Vec<String>,
    /// Tasks held out for validation (resolve rate); never trained on. Default none.
    pub holdout_ids: Vec<String>,
    /// `"binary"` (default) or `"partial"` (the fraction of FAIL_TO_PASS tests passing, PASS_TO_PASS kept).
    pub reward: RlvrReward,
    /// Subtracted from the reward of an episode that ended by `max_format_errors` format errors in a row.
    /// Default 0.0.
    pub format_error_penalty: f64,
    /// Episodes cut off by the step, token or time budget are left out of the loss (and of their group's
    /// advantages) instead of scoring 0, as DeepSWE's compact filtering does. Default false.
    pub mask_truncated: bool,
    /// Policy calls per episode (format-error turns count). Default 16.
    pub max_turns: usize,
    /// Format errors in a row that end an episode. Default 3.
    pub max_format_errors: usize,
    /// Prompt + completion tokens per episode (0: no limit). Default 0.
    pub max_episode_tokens: u64,
    /// Wall-clock seconds per episode (0: no limit). Default 0.
    pub time_budget_s: u64,
    /// Time limit of each bash action, seconds. Default 60.
    pub exec_timeout_s: u64,
    /// Time limit of a grading's test run, seconds. Default 600.
    pub eval_timeout_s: u64,
    /// Containers at once (episodes and gradings). A run is reproducible when every episode of a sampling round
    /// starts at once (`concurrency` at least `prompts_per_batch * group_size`); with fewer slots the turn batches
    /// depend on timing. Default 16.
    pub concurrency: usize,
    /// Episodes per held-out task at validation. Default 1.
    pub valid_episodes: usize,
    /// Sampling temperature of validation episodes (0: greedy, default).
    pub valid_temperature: f64,
}

impl Default for RlvrConfig {
    fn default() -> Self {
        RlvrConfig {
            tasks: "bundled".into(),
            instance_ids: Vec::new(),
            holdout_ids: Vec::new(),
            reward: RlvrReward::Binary,
            format_error_penalty: 0.0,
            mask_truncated: false,
            max_turns: 16,
            max_format_errors: 3,
            max_episode_tokens: 0,
            time_budget_s: 0,
            exec_timeout_s: 60,
            eval_timeout_s: 600,
            concurrency: 16,
            valid_episodes: 1,
            valid_temperature: 0.0,
        }
    }
}

/// `model.init_preset` as text: `""` is `None`, else a [`Preset`] name.
mod preset_or_empty {
    use super::*;

    pub fn serialize<S: Serializer>(p: &Option<Preset>, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(p.map(Preset::as_str).unwrap_or(""))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Preset>, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() { Ok(None) } else { s.parse().map(Some).map_err(serde::de::Error::custom) }
    }
}

/// `[data]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Trajectory files (any format `srl-swe data import` reads); `*` in a path component is a wildcard.
    /// Default `["tasks/*/trajectory.json"]`.
    pub paths: Vec<String>,
    /// Used instead of `paths` when `paths` match no file. Default `["tasks/*/solution.json"]`.
    pub fallback_paths: Vec<String>,
    /// Past action/observation rounds in each prompt: a number or `"all"`. Default 2.
    pub window: Window,
    /// Observations longer than this keep head and tail (0: no limit). Default 8000.
    pub max_observation_chars: usize,
    /// The system message of every prompt: `"swe-agent"` (default: SWE-agent's, with the tool documentation,
    /// ~1.5k tokens), `"compact"` (the output format and the tools' parameters, ~150 tokens) or `"instruct"`
    /// (compact with two example replies, ~250 tokens: for small instruct models). The agent loop must render with
    /// the same choice.
    pub system_prompt: SystemPrompt,
    /// The task message: `"swe-smith"` (default: SWE-smith's upload note and five-step instructions around the
    /// issue, ~250 tokens besides it) or `"compact"` (the issue and one line of instruction).
    pub task_prompt: TaskPrompt,
    /// Task (issue) texts longer than this many characters keep their head (0: no limit). Default 0.
    pub max_task_chars: usize,
    /// The start of every assistant turn, written into the prompt before the model writes (for example
    /// `"<think>\n"`, which makes an instruct model open its reasoning block). Rollouts continue it, the reward
    /// reads it followed by the completion, SFT targets must begin with it (it is cut from them), and the agent
    /// renders it from `final/prompt.json`. Default `""` (none).
    pub prefill: String,
    /// Drop trajectories marked unresolved. Default true.
    pub drop_unresolved: bool,
    /// Instance ids held out for validation. Default none.
    pub holdout_ids: Vec<String>,
    /// Fraction of the other instances held out (by a hash of the id). Default 0.0.
    pub holdout_fraction: f64,
    /// Seed of the holdout hash. Default 0.
    pub holdout_seed: u64,
    /// Use at most this many training examples (0: all). Default 0.
    pub max_train_examples: usize,
    /// Drop examples (training and validation) whose expert action is longer than this many characters, e.g.
    /// whole-file edits that a short `sampling.max_new_tokens` could not finish (0: keep all). Default 0.
    pub max_action_chars: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            paths: vec!["tasks/*/trajectory.json".into()],
            fallback_paths: vec!["tasks/*/solution.json".into()],
            window: Window::Last(2),
            max_observation_chars: 8000,
            system_prompt: SystemPrompt::SweAgent,
            task_prompt: TaskPrompt::SweSmith,
            max_task_chars: 0,
            prefill: String::new(),
            drop_unresolved: true,
            holdout_ids: Vec::new(),
            holdout_fraction: 0.0,
            holdout_seed: 0,
            max_train_examples: 0,
            max_action_chars: 0,
        }
    }
}

/// `[algorithm]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlgorithmConfig {
    /// `"srl"` (default: GRPO on the step-wise similarity reward, after `sft.warmup_steps` SFT steps) or
    /// `"sft"` (cross-entropy on the expert targets for all `steps`).
    pub kind: AlgorithmKind,
    /// Optimizer steps in the run (SFT warm-up steps included). Default 100.
    pub steps: usize,
    /// Master seed: data order, sampling, LoRA init. Default 0.
    pub seed: u64,
}

impl Default for AlgorithmConfig {
    fn default() -> Self {
        AlgorithmConfig { kind: AlgorithmKind::Srl, steps: 100, seed: 0 }
    }
}

/// `[grpo]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpoConfig {
    /// Prompts per batch (after dynamic sampling). Default 8.
    pub prompts_per_batch: usize,
    /// Rollouts per prompt (G). Default 8.
    pub group_size: usize,
    /// Completions per forward/backward micro-batch (gradient accumulation). Default 16.
    pub micro_batch: usize,
    /// Optimizer updates per sampled batch (> 1 makes the ratio differ from 1 and the clip act). Default 1.
    pub updates_per_batch: usize,
    /// Clip range epsilon of the ratio. Default 0.2.
    pub clip_eps: f64,
    /// Upper clip epsilon (DAPO's clip-higher); 0 (default): same as `clip_eps`.
    pub clip_eps_high: f64,
    /// KL coefficient beta (k3 estimator against the reference model). Default 0.0.
    pub kl_beta: f64,
    /// Drop groups whose reward std is at or below `std_eps` and sample more prompts. Default true.
    pub dynamic_sampling: bool,
    /// Default 1e-4.
    pub std_eps: f64,
    /// Dynamic sampling gives up after sampling this many times `prompts_per_batch` prompts (with a
    /// warning) and trains on what it has. Default 4.
    pub max_sampling_rounds: usize,
    /// Reward similarity metric: `"difflib"` (default) or `"lcs"`.
    pub metric: Metric,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        GrpoConfig {
            prompts_per_batch: 8,
            group_size: 8,
            micro_batch: 16,
            updates_per_batch: 1,
            clip_eps: 0.2,
            clip_eps_high: 0.0,
            kl_beta: 0.0,
            dynamic_sampling: true,
            std_eps: 1e-4,
            max_sampling_rounds: 4,
            metric: Metric::Difflib,
        }
    }
}

/// `[sft]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SftConfig {
    /// SFT warm-start steps before GRPO when `algorithm.kind = "srl"`. Default 0.
    pub warmup_steps: usize,
    /// Examples per SFT step. Default 8.
    pub batch_size: usize,
    /// Examples per forward/backward micro-batch. Default 8.
    pub micro_batch: usize,
    /// Target `<think>\n{expert thought}\n</think>\n{action}` (true, default) or the action after a fixed short
    /// think (false). The loss covers the whole target either way.
    pub include_thought: bool,
    /// Learning rate of SFT steps; 0 (default): `optimizer.lr`.
    pub lr: f64,
}

impl Default for SftConfig {
    fn default() -> Self {
        SftConfig { warmup_steps: 0, batch_size: 8, micro_batch: 8, include_thought: true, lr: 0.0 }
    }
}

/// `[optimizer]` (AdamW)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Peak learning rate. Default 1e-4.
    pub lr: f64,
    /// Default 0.9.
    pub beta1: f64,
    /// Default 0.999.
    pub beta2: f64,
    /// Default 1e-8.
    pub eps: f64,
    /// Decoupled weight decay. Default 0.0.
    pub weight_decay: f64,
    /// Variables whose name contains one of these get no weight decay. Default `["bias", "norm"]`.
    pub no_decay: Vec<String>,
    /// Global gradient-norm clip (0: off). Default 1.0.
    pub grad_clip: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            no_decay: vec!["bias".into(), "norm".into()],
            grad_clip: 1.0,
        }
    }
}

/// `[schedule]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// `"constant"` (default) or `"cosine"`.
    pub kind: ScheduleKind,
    /// Linear warm-up steps from 0. Default 0.
    pub warmup_steps: usize,
    /// Cosine floor as a fraction of the peak. Default 0.0.
    pub min_lr_ratio: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig { kind: ScheduleKind::Constant, warmup_steps: 0, min_lr_ratio: 0.0 }
    }
}

/// `[lora]` (used when `model.training = "lora"`)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraSection {
    /// Default 16.
    pub r: usize,
    /// Default 32.0.
    pub alpha: f64,
    /// Default all attention and MLP projections.
    pub target_modules: Vec<String>,
    /// Default false.
    pub use_rslora: bool,
}

impl Default for LoraSection {
    fn default() -> Self {
        let d = srl_policy::LoraConfig::default();
        LoraSection { r: d.r, alpha: d.alpha, target_modules: d.target_modules, use_rslora: d.use_rslora }
    }
}

/// `[validation]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationConfig {
    /// Validate every N steps and at the end (0: never). Default 10.
    pub every: usize,
    /// At most this many held-out examples (0: all). Without held-out examples, the first training
    /// examples are used (and the metrics say so). Default 32.
    pub max_examples: usize,
    /// Greedy decoding length. Default 512.
    pub max_new_tokens: usize,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig { every: 10, max_examples: 32, max_new_tokens: 512 }
    }
}

/// `[checkpoint]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Every N steps and at the end (0: only at the end and on Ctrl-C). Default 10.
    pub every: usize,
    /// Keep the last K (the best by validation is kept too). Default 2.
    pub keep_last: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig { every: 10, keep_last: 2 }
    }
}

/// `[logging]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Write PNG and SVG plots at each checkpoint. Default true.
    pub plots: bool,
    /// Every N GRPO steps, log one sampled completion with its reward and the expert action at info level
    /// (`srl-swe --log srl_train=info`); 0 (default): never.
    pub sample_every: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig { plots: true, sample_every: 0 }
    }
}

impl TrainConfig {
    /// Parses TOML text with `--set key=value` overrides (`key` dotted, e.g. `grpo.group_size`; `value` TOML,
    /// or a bare string), then validates. `origin` names the source in errors.
    pub fn parse(text: &str, sets: &[String], origin: &str) -> Result<TrainConfig> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| TrainError::Config(format!("{origin}: {}", e.message())))?;
        for s in sets {
            apply_set(&mut table, s)?;
        }
        // Re-render the merged table so that type errors point at a line that names the key.
        let merged = toml::to_string(&table).map_err(|e| TrainError::Config(format!("{origin}: {e}")))?;
        let cfg: TrainConfig =
            toml::from_str(&merged).map_err(|e| TrainError::Config(format!("{origin}: {}", describe(&e))))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_file(path: &Path, sets: &[String]) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::parse(&text, sets, &path.display().to_string())
    }

    /// The resolved config as TOML (every key, defaults included).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the ranges that types do not (sizes, rates); names are checked when parsing.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, msg: &str| Err(TrainError::Config(format!("`{key}`: {msg}")));
        if self.algorithm.steps == 0 {
            return bad("algorithm.steps", "must be at least 1");
        }
        if self.grpo.prompts_per_batch == 0 {
            return bad("grpo.prompts_per_batch", "must be at least 1");
        }
        if self.grpo.group_size < 2 {
            return bad("grpo.group_size", "must be at least 2 (advantages are normalized within a group)");
        }
        if self.grpo.micro_batch == 0 {
            return bad("grpo.micro_batch", "must be at least 1");
        }
        if self.grpo.updates_per_batch == 0 {
            return bad("grpo.updates_per_batch", "must be at least 1");
        }
        if self.grpo.clip_eps.is_nan() || self.grpo.clip_eps <= 0.0 {
            return bad("grpo.clip_eps", "must be positive");
        }
        if self.grpo.clip_eps_high < 0.0 {
            return bad("grpo.clip_eps_high", "must be at least 0");
        }
        if self.grpo.kl_beta < 0.0 {
            return bad("grpo.kl_beta", "must be at least 0");
        }
        if self.grpo.max_sampling_rounds == 0 {
            return bad("grpo.max_sampling_rounds", "must be at least 1");
        }
        if let Err(e) = self.sampling.validate() {
            let (field, msg) = e.split_once(": ").unwrap_or(("", &e));
            return bad(&format!("sampling.{field}"), msg);
        }
        if self.sft.batch_size == 0 || self.sft.micro_batch == 0 {
            return bad("sft.batch_size", "sft.batch_size and sft.micro_batch must be at least 1");
        }
        if self.optimizer.lr.is_nan() || self.optimizer.lr < 0.0 {
            return bad("optimizer.lr", "must be at least 0");
        }
        if !(0.0..1.0).contains(&self.optimizer.beta1) {
            return bad("optimizer.beta1", "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.optimizer.beta2) {
            return bad("optimizer.beta2", "must be in [0, 1)");
        }
        if self.optimizer.eps.is_nan() || self.optimizer.eps <= 0.0 {
            return bad("optimizer.eps", "must be positive");
        }
        if self.optimizer.weight_decay < 0.0 {
            return bad("optimizer.weight_decay", "must be at least 0");
        }
        if self.optimizer.grad_clip < 0.0 {
            return bad("optimizer.grad_clip", "must be at least 0");
        }
        if !(0.0..=1.0).contains(&self.schedule.min_lr_ratio) {
            return bad("schedule.min_lr_ratio", "must be in [0, 1]");
        }
        if !(0.0..=1.0).contains(&self.data.holdout_fraction) {
            return bad("data.holdout_fraction", "must be in [0, 1]");
        }
        if self.data.paths.is_empty() && self.needs_steps() {
            return bad("data.paths", "must name at least one file");
        }
        for (i, st) in self.stages.iter().enumerate() {
            if st.steps == 0 {
                return bad(&format!("stages[{i}].steps"), "must be at least 1");
            }
            if st.lr.is_some_and(|lr| lr.is_nan() || lr < 0.0) {
                return bad(&format!("stages[{i}].lr"), "must be at least 0");
            }
        }
        let r = &self.rlvr;
        if r.max_turns == 0 {
            return bad("rlvr.max_turns", "must be at least 1");
        }
        if r.max_format_errors == 0 {
            return bad("rlvr.max_format_errors", "must be at least 1");
        }
        if r.exec_timeout_s == 0 || r.eval_timeout_s == 0 {
            return bad("rlvr.exec_timeout_s", "rlvr.exec_timeout_s and rlvr.eval_timeout_s must be positive");
        }
        if r.concurrency == 0 {
            return bad("rlvr.concurrency", "must be at least 1");
        }
        if r.format_error_penalty.is_nan() || r.format_error_penalty < 0.0 {
            return bad("rlvr.format_error_penalty", "must be at least 0");
        }
        if r.valid_temperature.is_nan() || r.valid_temperature < 0.0 {
            return bad("rlvr.valid_temperature", "must be at least 0");
        }
        if self.model.training == TrainingMode::Lora {
            self.lora_config(0).validate(Path::new("lora")).map_err(|e| TrainError::Config(format!("`lora`: {e}")))?;
        }
        Ok(())
    }

    /// The run's stages: `[[stages]]`, or one stage of `algorithm.kind` for `algorithm.steps`.
    pub fn stages(&self) -> Vec<Stage> {
        if self.stages.is_empty() {
            vec![Stage { kind: self.algorithm.kind, steps: self.algorithm.steps, lr: None }]
        } else {
            self.stages.clone()
        }
    }

    /// Optimizer steps of the whole run.
    pub fn total_steps(&self) -> usize {
        self.stages().iter().map(|s| s.steps).sum()
    }

    /// The stage of optimizer step `step` (1-based): its index, its kind and the step it starts after.
    pub fn stage_at(&self, step: usize) -> (usize, Stage, usize) {
        let stages = self.stages();
        let mut start = 0;
        let last = stages.len() - 1;
        for (i, s) in stages.iter().enumerate() {
            if step <= start + s.steps || i == last {
                return (i, s.clone(), start);
            }
            start += s.steps;
        }
        (last, stages[last].clone(), start)
    }

    /// Whether some stage trains on step examples (SRL or SFT).
    pub fn needs_steps(&self) -> bool {
        self.stages().iter().any(|s| s.kind != AlgorithmKind::Rlvr)
    }

    /// Whether some stage runs episodes in the sandbox.
    pub fn needs_rlvr(&self) -> bool {
        self.stages().iter().any(|s| s.kind == AlgorithmKind::Rlvr)
    }

    /// The policy crate's LoRA config.
    pub fn lora_config(&self, seed: u64) -> srl_policy::LoraConfig {
        srl_policy::LoraConfig {
            r: self.lora.r,
            alpha: self.lora.alpha,
            dropout: 0.0,
            target_modules: self.lora.target_modules.clone(),
            use_rslora: self.lora.use_rslora,
            seed,
        }
    }
}

/// serde's message and the offending line of the (merged) config, which names the key.
fn describe(e: &toml::de::Error) -> String {
    e.to_string().trim().replace('\n', " ")
}

/// Applies one `key=value` to a TOML table; the value is parsed as TOML, else taken as a string.
pub fn apply_set(table: &mut toml::Table, set: &str) -> Result<()> {
    let (key, value) =
        set.split_once('=').ok_or_else(|| TrainError::Config(format!("--set {set:?}: expected key=value")))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if key.is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(TrainError::Config(format!("--set {set:?}: bad key")));
    }
    let value = value.trim();
    let parsed: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(value.into())),
        Err(_) => toml::Value::String(value.into()),
    };
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(TrainError::Config(format!("--set {set:?}: `{p}` is not a table"))),
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip() {
        let c = TrainConfig::parse("", &[], "t").unwrap();
        assert_eq!(c, TrainConfig::default());
        let again = TrainConfig::parse(&c.to_toml(), &[], "t").unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = TrainConfig::parse("[grpo]\ngroup_sise = 4\n", &[], "t").unwrap_err().to_string();
        assert!(e.contains("group_sise"), "{e}");
        let e = TrainConfig::parse("[grpoo]\n", &[], "t").unwrap_err().to_string();
        assert!(e.contains("grpoo"), "{e}");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = TrainConfig::parse("[grpo]\ngroup_size = \"four\"\n", &[], "t").unwrap_err().to_string();
        assert!(e.contains("group_size"), "{e}");
    }

    #[test]
    fn sets_override() {
        let sets = vec![
            "grpo.group_size=4".to_string(),
            "model.path=foo/bar".into(),
            "data.window=\"all\"".into(),
            "data.system_prompt=compact".into(),
        ];
        let c = TrainConfig::parse("[grpo]\ngroup_size = 8\n", &sets, "t").unwrap();
        assert_eq!(c.grpo.group_size, 4);
        assert_eq!(c.model.path, "foo/bar");
        assert_eq!(c.data.window, Window::All);
        assert_eq!(c.data.system_prompt, SystemPrompt::Compact);
        let e = TrainConfig::parse("", &["grpo.nope=1".into()], "t").unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn bad_system_prompt_is_named() {
        assert_eq!(TrainConfig::default().data.system_prompt, SystemPrompt::SweAgent);
        let e = TrainConfig::parse("[data]\nsystem_prompt = \"short\"\n", &[], "t").unwrap_err().to_string();
        assert!(e.contains("system_prompt") && e.contains("compact"), "{e}");
    }

    #[test]
    fn validation_names_key() {
        let e = TrainConfig::parse("[schedule]\nkind = \"linear\"\n", &[], "t").unwrap_err().to_string();
        assert!(e.contains("schedule.kind"), "{e}");
        let e = TrainConfig::parse("[grpo]\ngroup_size = 1\n", &[], "t").unwrap_err().to_string();
        assert!(e.contains("grpo.group_size"), "{e}");
    }
}
