//! The training loop: SFT steps and GRPO steps with dynamic sampling, validation, metrics, checkpoints, resume.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::Tensor;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use srl_core::{Instance, Message};
use srl_data::StepExample;
use srl_policy::{Policy, PolicyOptions, SampleOptions, Training};
use srl_reward::{Metric, Scorer};

use crate::checkpoint::{self, TrainState};
use crate::config::{AlgorithmKind, TrainConfig, TrainingMode};
use crate::error::{Result, TrainError};
use crate::grpo;
use crate::optim::{AdamW, AdamWParams, GradAccum, clip_grad_norm, lr_at};
use crate::rlvr::{self, EpisodeRunner, Masked, RolloutRecord, TurnSample};
use crate::steps::{StepEvalOptions, evaluate_steps};

pub const METRICS: &str = "metrics.jsonl";
/// RLVR's episodes, one JSON line each ([`RolloutRecord`]).
pub const ROLLOUTS: &str = "rollouts.jsonl";
pub const CONFIG: &str = "config.toml";

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: usize,
    /// `"sft"`, `"grpo"` (SRL) or `"rlvr"`.
    pub phase: String,
    /// The curriculum stage (index into `[[stages]]`; 0 for a run of one stage).
    #[serde(default)]
    pub stage: usize,
    /// Seconds since the run started (resumed segments included).
    pub time_s: f64,
    pub lr: f64,
    pub loss: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// GRPO: over every sampled completion (dropped groups included).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reward_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reward_std: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub format_rate: Option<f64>,
    /// Mean similarity of the well-formed completions.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub similarity: Option<f64>,
    /// Fraction of sampled groups dropped by dynamic sampling.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dropped_frac: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub groups: Option<usize>,
    /// Token mean of k3 KL to the reference (when `kl_beta > 0`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kl: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub clip_frac: Option<f64>,
    /// RLVR: the episodes of the step, what they did and where the time went.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rlvr: Option<RlvrRecord>,
    pub sample_s: f64,
    pub reward_s: f64,
    /// Log-prob forward and backward.
    pub train_s: f64,
    pub optim_s: f64,
    pub sample_tokens_per_s: f64,
    pub train_tokens_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid: Option<ValidRecord>,
}

/// An RLVR step's episodes (every sampled one, masked and dropped groups included). The times of episodes and
/// gradings are sums over concurrent containers; `rollout_s` is the wall-clock of the sampling rounds, of which
/// the record's `sample_s` is the policy's share.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RlvrRecord {
    pub episodes: usize,
    /// Resolved episodes over graded (unmasked) ones.
    pub resolve_rate: f64,
    /// Episodes left out: infrastructure failures, and budget cut-offs under `rlvr.mask_truncated`.
    pub masked: usize,
    /// Policy calls per episode (format-error turns included).
    pub turns_mean: f64,
    /// Completion tokens per episode.
    pub tokens_mean: f64,
    /// Episodes by exit (`submitted`, `step_limit`, `format_errors`, ...).
    pub exits: std::collections::BTreeMap<String, usize>,
    pub rollout_s: f64,
    pub sandbox_s: f64,
    pub grade_s: f64,
}

/// Greedy validation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidRecord {
    pub examples: usize,
    /// True when there were no held-out examples and training examples were used.
    pub on_train: bool,
    /// Mean similarity to the expert action, malformed completions counting 0.
    pub similarity: f64,
    pub format_rate: f64,
    pub reward_mean: f64,
    /// Counts: malformed, [0, .25), [.25, .5), [.5, .75), [.75, 1), exactly 1.
    pub reward_hist: [usize; 6],
    /// RLVR stages: resolved episodes over graded ones on the held-out tasks (`examples` counts episodes).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resolve_rate: Option<f64>,
}

impl ValidRecord {
    /// What "best" compares: the resolve rate when there is one, else the similarity.
    pub fn score(&self) -> (&'static str, f64) {
        match self.resolve_rate {
            Some(r) => ("resolve_rate", r),
            None => ("similarity", self.similarity),
        }
    }
}

/// RLVR's sandbox: where episodes run, the runtime they run on, and the tasks.
pub struct RlvrEnv {
    pub runner: Box<dyn EpisodeRunner>,
    pub handle: tokio::runtime::Handle,
    /// Training tasks (a group of `grpo.group_size` episodes each).
    pub train: Vec<Instance>,
    /// Held-out tasks for validation (empty: the training tasks, and the record says so).
    pub valid: Vec<Instance>,
}

/// Counts over a set of RLVR episodes.
#[derive(Default)]
struct EpisodeTally {
    episodes: usize,
    graded: usize,
    resolved: usize,
    masked: usize,
    turns: usize,
    format_errors: usize,
    tokens: usize,
    exits: std::collections::BTreeMap<String, usize>,
    sample_s: f64,
    rollout_s: f64,
    sandbox_s: f64,
    grade_s: f64,
}

impl EpisodeTally {
    fn add(&mut self, r: &rlvr::Rollout, score: &std::result::Result<f64, Masked>) {
        self.episodes += 1;
        match score {
            Ok(_) => {
                self.graded += 1;
                self.resolved += usize::from(r.grade.resolved);
            }
            Err(_) => self.masked += 1,
        }
        let exit = r.run.exit().map_or("no_episode", |e| e.as_str());
        *self.exits.entry(exit.to_string()).or_default() += 1;
        if let Some(ep) = &r.run.episode {
            self.turns += ep.steps;
            self.format_errors += ep.format_errors;
        }
        self.tokens += r.turns.iter().map(|t| t.completion.len()).sum::<usize>();
        self.sandbox_s += r.sandbox_s;
        self.grade_s += r.grade_s;
    }

    fn format_rate(&self) -> f64 {
        if self.turns == 0 { 0.0 } else { 1.0 - self.format_errors as f64 / self.turns as f64 }
    }

    fn record(&self) -> RlvrRecord {
        let per = |x: usize| x as f64 / self.episodes.max(1) as f64;
        RlvrRecord {
            episodes: self.episodes,
            resolve_rate: self.resolved as f64 / self.graded.max(1) as f64,
            masked: self.masked,
            turns_mean: per(self.turns),
            tokens_mean: per(self.tokens),
            exits: self.exits.clone(),
            rollout_s: self.rollout_s,
            sandbox_s: self.sandbox_s,
            grade_s: self.grade_s,
        }
    }
}

fn rollout_line(
    step: usize,
    split: &str,
    group: usize,
    instance_id: &str,
    r: &rlvr::Rollout,
    score: &std::result::Result<f64, Masked>,
) -> RolloutRecord {
    let ep = r.run.episode.as_ref();
    RolloutRecord {
        step,
        split: split.into(),
        instance_id: instance_id.to_string(),
        group,
        exit: r.run.exit().map_or("no_episode".into(), |e| e.to_string()),
        turns: ep.map_or(0, |e| e.steps),
        format_errors: ep.map_or(0, |e| e.format_errors),
        completion_tokens: r.turns.iter().map(|t| t.completion.len()).sum(),
        patch_bytes: ep.and_then(|e| e.patch.as_ref()).map_or(0, String::len),
        grade: r.grade.clone(),
        reward: score.as_ref().ok().copied(),
        masked: score.as_ref().err().copied(),
        episode_s: r.episode_s,
        grade_s: r.grade_s,
    }
}

/// Item `cursor` of a stream over `n` items that visits each once per epoch, in a fresh permutation per epoch
/// seeded by `seed` and the epoch.
fn draw(cursor: u64, n: usize, seed: u64) -> usize {
    let epoch = cursor / n as u64;
    let pos = (cursor % n as u64) as usize;
    let mut order: Vec<usize> = (0..n).collect();
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(epoch);
    order.shuffle(&mut r);
    order[pos]
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    pub steps: usize,
    pub interrupted: bool,
    pub last_checkpoint: Option<PathBuf>,
}

/// A GRPO training row: prompt ids (context), completion ids (the targets: tokens the policy wrote), their
/// sampling log-probs, the advantage.
pub type Row = (Vec<u32>, Vec<u32>, Vec<f32>, f32);

/// Prompts tokenized so far, and how many of them the system message and the task alone made longer than
/// `model.max_prompt_tokens` (kept whole). One warning the first time, one summary at the end of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromptStats {
    /// Distinct prompts tokenized (training and validation examples).
    pub prompts: usize,
    /// Of those, prompts over the budget even without history.
    pub over_budget: usize,
    /// The longest prompt in tokens.
    pub max_tokens: usize,
}

/// The prompt ids of `ex`: tokenized once (counted in `stats`, with a warning at the first over-long prompt of
/// the run), then taken from `slot`.
fn cached_prompt(
    slot: &mut Option<Vec<u32>>,
    policy: &Policy,
    ex: &StepExample,
    prefill: &str,
    max: usize,
    stats: &mut PromptStats,
) -> Result<Vec<u32>> {
    if let Some(ids) = slot {
        return Ok(ids.clone());
    }
    let p = policy.chat_prompt(&ex.messages, prefill, max)?;
    stats.prompts += 1;
    stats.max_tokens = stats.max_tokens.max(p.ids.len());
    if p.over_budget {
        stats.over_budget += 1;
        if stats.over_budget == 1 {
            tracing::warn!(
                instance = %ex.instance_id,
                step = ex.step_index,
                tokens = p.ids.len(),
                max_prompt_tokens = max,
                "the system message and the task alone exceed `model.max_prompt_tokens`; such prompts are kept \
                 whole (counted, with one summary at the end of the run). `data.system_prompt = \"compact\"` or \
                 `data.max_task_chars` shorten them"
            );
        }
    }
    *slot = Some(p.ids.clone());
    Ok(p.ids)
}

/// A trainer over a policy and step examples, writing under a run folder.
pub struct Trainer {
    cfg: TrainConfig,
    out: PathBuf,
    policy: Policy,
    opt: AdamW,
    train: Vec<StepExample>,
    valid: Vec<StepExample>,
    valid_on_train: bool,
    prompt_cache: Vec<Option<Vec<u32>>>,
    valid_prompt_cache: Vec<Option<Vec<u32>>>,
    target_cache: Vec<Option<Vec<u32>>>,
    prompt_stats: PromptStats,
    /// GRPO steps in this run segment whose dynamic sampling gave up (partial batches).
    partial_batches: usize,
    metric: Metric,
    state: TrainState,
    rng: ChaCha8Rng,
    records: Vec<StepRecord>,
    started: Instant,
    rlvr: Option<RlvrEnv>,
}

/// Policy options from the config.
pub fn policy_options(cfg: &TrainConfig) -> PolicyOptions {
    let training = match cfg.model.training {
        TrainingMode::Full => Training::Full { keep_reference: cfg.grpo.kl_beta > 0.0 },
        TrainingMode::Lora => Training::Lora(cfg.lora_config(cfg.algorithm.seed)),
    };
    PolicyOptions {
        device: cfg.model.device,
        dtype: cfg.model.dtype,
        training,
        template: None,
        gradient_checkpointing: cfg.model.gradient_checkpointing,
    }
}

/// Creates the model folder with `model.init_preset` when it is missing; returns the folder or repo id.
pub fn prepare_model(cfg: &TrainConfig) -> Result<String> {
    let path = Path::new(&cfg.model.path);
    if let Some(preset) = cfg.model.init_preset
        && !path.join(srl_policy::files::CONFIG).exists()
    {
        tracing::info!(path = %path.display(), %preset, "creating a random model");
        srl_policy::init_model_dir(path, preset, cfg.model.init_seed)?;
    }
    Ok(cfg.model.path.clone())
}

impl Trainer {
    /// Loads the data (relative to `root`) and the model, and prepares the run folder `out`. With `resume`, the
    /// latest checkpoint under `out` is restored (an error when there is none); without it, a folder that
    /// already holds a run is an error.
    pub fn new(cfg: TrainConfig, root: &Path, out: &Path, resume: bool) -> Result<Trainer> {
        let (train, valid) = if cfg.needs_steps() {
            let (files, split) = crate::data::load_split(root, &cfg.data)?;
            tracing::info!(files = files.len(), train = split.train.len(), valid = split.valid.len(), "data loaded");
            (split.train, split.valid)
        } else {
            (Vec::new(), Vec::new())
        };
        let model = prepare_model(&cfg)?;
        let policy = Policy::load(&model, &policy_options(&cfg))?;
        Self::from_parts(cfg, policy, train, valid, out, resume)
    }

    /// A trainer over an already loaded policy and examples (tests, benchmarks).
    pub fn from_parts(
        cfg: TrainConfig,
        policy: Policy,
        train: Vec<StepExample>,
        valid: Vec<StepExample>,
        out: &Path,
        resume: bool,
    ) -> Result<Trainer> {
        cfg.validate()?;
        if train.is_empty() && cfg.needs_steps() {
            return Err(TrainError::Data("no training examples".into()));
        }
        let ckpt_root = out.join("checkpoints");
        let latest = checkpoint::latest(&ckpt_root)?;
        if !resume && (latest.is_some() || out.join(METRICS).exists()) {
            return Err(TrainError::Invalid(format!(
                "{} already holds a run: pass --resume to continue it, or choose another --out",
                out.display()
            )));
        }
        if resume && latest.is_none() {
            return Err(TrainError::Invalid(format!("--resume: no checkpoint under {}", ckpt_root.display())));
        }
        std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
        let cpath = out.join(CONFIG);
        srl_core::fs::write_atomic(&cpath, cfg.to_toml().as_bytes()).map_err(|e| TrainError::io(&cpath, e))?;
        let o = &cfg.optimizer;
        let params = AdamWParams { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weight_decay: o.weight_decay };
        let named = policy.named_trainable_vars();
        if named.is_empty() {
            return Err(TrainError::Invalid("the policy has no trainable variables".into()));
        }
        let opt = AdamW::new(named, params, &o.no_decay)?;
        let (valid, valid_on_train) = if valid.is_empty() { (train.clone(), true) } else { (valid, false) };
        let metric = cfg.grpo.metric;
        let seed = cfg.algorithm.seed;
        let n = train.len();
        let n_valid = valid.len();
        let mut t = Trainer {
            rng: ChaCha8Rng::seed_from_u64(seed),
            state: TrainState { rng_seed: seed, rng_word_pos: "0".into(), ..Default::default() },
            cfg,
            out: out.to_path_buf(),
            policy,
            opt,
            train,
            valid,
            valid_on_train,
            prompt_cache: vec![None; n],
            valid_prompt_cache: vec![None; n_valid],
            target_cache: vec![None; n],
            prompt_stats: PromptStats::default(),
            partial_batches: 0,
            metric,
            records: Vec::new(),
            started: Instant::now(),
            rlvr: None,
        };
        if let Some(dir) = latest {
            t.restore(&dir)?;
        }
        Ok(t)
    }

    /// Gives RLVR stages their sandbox and tasks (a run with an `rlvr` stage cannot start without it).
    pub fn with_rlvr(mut self, env: RlvrEnv) -> Result<Trainer> {
        if env.train.is_empty() {
            return Err(TrainError::Data("RLVR: no training tasks".into()));
        }
        self.rlvr = Some(env);
        Ok(self)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }
    pub fn step(&self) -> usize {
        self.state.step
    }
    pub fn records(&self) -> &[StepRecord] {
        &self.records
    }
    pub fn out(&self) -> &Path {
        &self.out
    }
    /// Prompt lengths seen so far (over-budget count).
    pub fn prompt_stats(&self) -> &PromptStats {
        &self.prompt_stats
    }

    fn restore(&mut self, dir: &Path) -> Result<()> {
        let state = checkpoint::read_state(dir)?;
        let named = self.policy.named_trainable_vars();
        checkpoint::load_vars(&dir.join(checkpoint::TRAINABLE), &named, self.policy.device())?;
        self.opt.load(&dir.join(checkpoint::OPTIMIZER))?;
        let pos: u128 =
            state.rng_word_pos.parse().map_err(|_| TrainError::checkpoint(dir, "bad rng_word_pos in state.json"))?;
        self.rng = ChaCha8Rng::seed_from_u64(state.rng_seed);
        self.rng.set_word_pos(pos);
        // Keep the metrics written up to the checkpoint; later lines belong to the lost tail of the run.
        let mpath = self.out.join(METRICS);
        let mut kept = String::new();
        if let Ok(text) = std::fs::read_to_string(&mpath) {
            for line in text.lines() {
                if let Ok(r) = serde_json::from_str::<StepRecord>(line)
                    && r.step <= state.step
                {
                    kept.push_str(line);
                    kept.push('\n');
                    self.records.push(r);
                }
            }
        }
        srl_core::fs::write_atomic(&mpath, kept.as_bytes()).map_err(|e| TrainError::io(&mpath, e))?;
        // The same for RLVR's episodes: those of later steps run again.
        let rpath = self.out.join(ROLLOUTS);
        if let Ok(text) = std::fs::read_to_string(&rpath) {
            let kept: String = text
                .lines()
                .filter(|l| serde_json::from_str::<RolloutRecord>(l).is_ok_and(|r| r.step <= state.step))
                .flat_map(|l| [l, "\n"])
                .collect();
            srl_core::fs::write_atomic(&rpath, kept.as_bytes()).map_err(|e| TrainError::io(&rpath, e))?;
        }
        tracing::info!(step = state.step, dir = %dir.display(), "resumed");
        self.state = state;
        Ok(())
    }

    /// The phase of optimizer step `step` (1-based): its stage and whether it is an SFT step (an `sft` stage, or
    /// the first `sft.warmup_steps` steps of an `srl` stage).
    fn phase(&self, step: usize) -> (usize, AlgorithmKind) {
        let (i, stage, start) = self.cfg.stage_at(step);
        let kind = match stage.kind {
            AlgorithmKind::Srl if step - start <= self.cfg.sft.warmup_steps => AlgorithmKind::Sft,
            k => k,
        };
        (i, kind)
    }

    fn is_sft(&self, step: usize) -> bool {
        self.phase(step).1 == AlgorithmKind::Sft
    }

    /// The next training task of RLVR (a fresh seeded permutation per epoch, as for examples).
    fn next_task(&mut self, n: usize) -> usize {
        let i = draw(self.state.task_cursor, n, self.cfg.algorithm.seed ^ 0x7a5c_da7a);
        self.state.task_cursor += 1;
        i
    }

    /// The next example index of the data stream (a fresh seeded permutation per epoch).
    fn next_example(&mut self) -> usize {
        let i = draw(self.state.cursor, self.train.len(), self.cfg.algorithm.seed ^ 0x5eed_da7a);
        self.state.cursor += 1;
        i
    }

    fn prompt_ids(&mut self, i: usize) -> Result<Vec<u32>> {
        let max = self.cfg.model.max_prompt_tokens;
        let prefill = &self.cfg.data.prefill;
        cached_prompt(&mut self.prompt_cache[i], &self.policy, &self.train[i], prefill, max, &mut self.prompt_stats)
    }

    fn target_ids(&mut self, i: usize) -> Result<Vec<u32>> {
        if let Some(p) = &self.target_cache[i] {
            return Ok(p.clone());
        }
        let full = crate::data::sft_target(&self.train[i], self.cfg.sft.include_thought);
        let prompt = crate::data::prompt_config(&self.cfg.data);
        let text = prompt.after_prefill(&full).ok_or_else(|| {
            TrainError::Config(format!(
                "`data.prefill` {:?}: the SFT target of {} step {} does not begin with it ({:?}...)",
                prompt.prefill,
                self.train[i].instance_id,
                self.train[i].step_index,
                full.chars().take(20).collect::<String>()
            ))
        })?;
        let tok = self.policy.tokenizer();
        let mut ids = tok.encode(text)?;
        ids.push(tok.im_end_id());
        self.target_cache[i] = Some(ids.clone());
        Ok(ids)
    }

    fn lr(&self, step0: usize) -> f64 {
        let s = &self.cfg.schedule;
        let stage_lr = self.cfg.stage_at(step0 + 1).1.lr;
        let peak = match stage_lr {
            Some(lr) => lr,
            None if self.is_sft(step0 + 1) && self.cfg.sft.lr > 0.0 => self.cfg.sft.lr,
            None => self.cfg.optimizer.lr,
        };
        lr_at(s.kind, peak, step0, s.warmup_steps, self.cfg.total_steps(), s.min_lr_ratio)
    }

    /// Runs until the last stage's last step or until `stop` is set (then a checkpoint is written). `on_step`
    /// sees every record (progress bars).
    pub fn run(&mut self, stop: &AtomicBool, on_step: &mut dyn FnMut(&StepRecord)) -> Result<RunSummary> {
        let total = self.cfg.total_steps();
        if self.cfg.needs_rlvr() && self.rlvr.is_none() {
            return Err(TrainError::Invalid(
                "an `rlvr` stage needs a sandbox and tasks (`srl-swe train` connects to Docker for it)".into(),
            ));
        }
        let mut last_ckpt = None;
        let mut interrupted = false;
        while self.state.step < total {
            let mut rec = self.train_step()?;
            let step = rec.step;
            let v_every = self.cfg.validation.every;
            let mut new_best = false;
            if v_every > 0 && (step % v_every == 0 || step == total) {
                // An RLVR stage validates by resolve rate, from the step before it starts (its baseline) on.
                let rlvr_next = step < total && self.phase(step + 1).1 == AlgorithmKind::Rlvr;
                let v = if self.phase(step).1 == AlgorithmKind::Rlvr || rlvr_next {
                    self.validate_rlvr()?
                } else {
                    self.validate()?
                };
                // The best is compared within one metric: an RLVR stage starts its own.
                let (metric, value) = v.score();
                if self.state.best_metric.as_deref().is_some_and(|m| m != metric) {
                    self.state.best = None;
                }
                self.state.best_metric = Some(metric.to_string());
                if self.state.best.is_none_or(|(_, b)| value > b) {
                    self.state.best = Some((step, value));
                    new_best = true;
                }
                rec.valid = Some(v);
            }
            self.append_record(&rec)?;
            on_step(&rec);
            let c_every = self.cfg.checkpoint.every;
            interrupted = stop.load(Ordering::SeqCst);
            // A new best validation is checkpointed at once, so that the best checkpoint always exists.
            if (c_every > 0 && step % c_every == 0) || step == total || interrupted || new_best {
                last_ckpt = Some(self.save_checkpoint()?);
            }
            if interrupted {
                tracing::warn!(step, "interrupted: checkpoint written");
                break;
            }
        }
        if !interrupted {
            self.export_final()?;
        }
        if self.partial_batches > 0 {
            tracing::warn!(
                steps = self.partial_batches,
                "dynamic sampling gave up on {} GRPO step(s) of this run: partial batches",
                self.partial_batches
            );
        }
        let ps = &self.prompt_stats;
        if ps.over_budget > 0 {
            tracing::warn!(
                over_budget = ps.over_budget,
                prompts = ps.prompts,
                longest = ps.max_tokens,
                max_prompt_tokens = self.cfg.model.max_prompt_tokens,
                "{} of {} prompts were longer than `model.max_prompt_tokens` without any history",
                ps.over_budget,
                ps.prompts
            );
        }
        Ok(RunSummary { steps: self.state.step, interrupted, last_checkpoint: last_ckpt })
    }

    fn append_record(&mut self, rec: &StepRecord) -> Result<()> {
        let p = self.out.join(METRICS);
        let mut f =
            std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| TrainError::io(&p, e))?;
        let line = serde_json::to_string(rec).map_err(|e| TrainError::Invalid(e.to_string()))?;
        writeln!(f, "{line}").map_err(|e| TrainError::io(&p, e))?;
        self.records.push(rec.clone());
        Ok(())
    }

    /// One optimizer step (SFT or GRPO by phase); returns its record (without validation).
    pub fn train_step(&mut self) -> Result<StepRecord> {
        let step0 = self.state.step;
        let t0 = Instant::now();
        let (stage, kind) = self.phase(step0 + 1);
        let mut rec = match kind {
            AlgorithmKind::Sft => self.sft_step(step0)?,
            AlgorithmKind::Srl => self.grpo_step(step0)?,
            AlgorithmKind::Rlvr => self.rlvr_step(step0)?,
        };
        rec.stage = stage;
        self.state.step += 1;
        rec.step = self.state.step;
        rec.time_s = self.state.elapsed_s + self.started.elapsed().as_secs_f64();
        tracing::debug!(step = rec.step, secs = t0.elapsed().as_secs_f64(), loss = rec.loss, "step");
        Ok(rec)
    }

    fn sft_step(&mut self, step0: usize) -> Result<StepRecord> {
        let lr = self.lr(step0);
        let bs = self.cfg.sft.batch_size;
        let mut pairs = Vec::with_capacity(bs);
        for _ in 0..bs {
            let i = self.next_example();
            pairs.push((self.prompt_ids(i)?, self.target_ids(i)?));
        }
        let total: usize = pairs.iter().map(|p| p.1.len()).sum();
        let vars = self.opt.vars().to_vec();
        let mut acc = GradAccum::new(vars.len());
        let t = Instant::now();
        let mut loss_sum = 0.0;
        for mb in pairs.chunks(self.cfg.sft.micro_batch) {
            let lp = self.policy.logprobs(mb)?;
            let loss = (lp.logprobs.sum_all()? / total as f64)?.neg()?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            acc.add(&self.policy.backward(&lp, &loss)?, &vars)?;
        }
        let train_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let grad_norm = clip_grad_norm(&mut acc.grads, self.cfg.optimizer.grad_clip)?;
        self.opt.step(&acc.grads, lr)?;
        let optim_s = t.elapsed().as_secs_f64();
        let ptoks: usize = pairs.iter().map(|p| p.0.len() + p.1.len()).sum();
        Ok(StepRecord {
            phase: "sft".into(),
            lr,
            loss: loss_sum,
            grad_norm,
            train_s,
            optim_s,
            train_tokens_per_s: ptoks as f64 / train_s.max(1e-9),
            ..Default::default()
        })
    }

    fn sample_opts(&mut self, n: usize) -> SampleOptions {
        SampleOptions { n, seed: self.rng.next_u64(), params: self.cfg.sampling }
    }

    fn grpo_step(&mut self, step0: usize) -> Result<StepRecord> {
        let lr = self.lr(step0);
        let g = self.cfg.grpo.clone();
        let (mut sample_s, mut reward_s) = (0.0, 0.0);
        let mut sampled_tokens = 0usize;
        let mut all_rewards = Vec::new();
        let (mut n_format, mut sim_sum) = (0usize, 0.0);
        let (mut groups_seen, mut groups_dropped) = (0usize, 0usize);
        // Kept groups: (prompt, completions (ids, old logprobs), advantages).
        type Kept = (Vec<u32>, Vec<(Vec<u32>, Vec<f32>)>, Vec<f64>);
        let mut kept: Vec<Kept> = Vec::new();
        let mut rounds = 0;
        let every = self.cfg.logging.sample_every;
        let mut show_sample = every > 0 && (step0 + 1).is_multiple_of(every);
        while kept.len() < g.prompts_per_batch {
            if rounds == g.max_sampling_rounds {
                self.partial_batches += 1;
                if self.partial_batches == 1 {
                    tracing::warn!(
                        step = step0 + 1,
                        kept = kept.len(),
                        wanted = g.prompts_per_batch,
                        "dynamic sampling gave up: training on a partial batch (every group's rewards were equal); \
                         later ones are logged at debug level and counted at the end (metrics: `groups`)"
                    );
                } else {
                    tracing::debug!(step = step0 + 1, kept = kept.len(), "dynamic sampling gave up");
                }
                break;
            }
            rounds += 1;
            let need = g.prompts_per_batch - kept.len();
            let idx: Vec<usize> = (0..need).map(|_| self.next_example()).collect();
            let prompts: Vec<Vec<u32>> = idx.iter().map(|&i| self.prompt_ids(i)).collect::<Result<_>>()?;
            let opts = self.sample_opts(g.group_size);
            let t = Instant::now();
            let comps = self.policy.sample(&prompts, &opts)?;
            sample_s += t.elapsed().as_secs_f64();
            sampled_tokens += comps.iter().map(|c| c.ids.len()).sum::<usize>();
            let t = Instant::now();
            let mut per_prompt: Vec<Vec<f64>> = vec![Vec::new(); idx.len()];
            for (pi, &ex) in idx.iter().enumerate() {
                let mut scorer = Scorer::new(&self.train[ex].expert_action, self.metric);
                for c in &comps[pi * g.group_size..(pi + 1) * g.group_size] {
                    let s = scorer.score(&format!("{}{}", self.cfg.data.prefill, c.text));
                    if s.format_ok {
                        n_format += 1;
                        sim_sum += s.reward;
                    }
                    per_prompt[pi].push(s.reward);
                }
            }
            reward_s += t.elapsed().as_secs_f64();
            if show_sample && let Some(c) = comps.first() {
                show_sample = false;
                tracing::info!(
                    step = step0 + 1,
                    instance = %self.train[idx[0]].instance_id,
                    reward = per_prompt[0][0],
                    "sample completion:\n{}\n--- expert action:\n{}",
                    c.text,
                    self.train[idx[0]].expert_action
                );
            }
            for (pi, rewards) in per_prompt.into_iter().enumerate() {
                groups_seen += 1;
                all_rewards.extend_from_slice(&rewards);
                if g.dynamic_sampling && !grpo::keep_group(&rewards, g.std_eps) {
                    groups_dropped += 1;
                    continue;
                }
                let cs = comps[pi * g.group_size..(pi + 1) * g.group_size]
                    .iter()
                    .map(|c| (c.ids.clone(), c.logprobs.clone()))
                    .collect();
                kept.push((prompts[pi].clone(), cs, grpo::group_advantages(&rewards)));
            }
        }
        let (reward_mean, reward_std) = grpo::mean_std(&all_rewards);
        let n_comp = all_rewards.len().max(1);
        let mut rec = StepRecord {
            phase: "grpo".into(),
            lr,
            reward_mean: Some(reward_mean),
            reward_std: Some(reward_std),
            format_rate: Some(n_format as f64 / n_comp as f64),
            similarity: Some(if n_format > 0 { sim_sum / n_format as f64 } else { 0.0 }),
            dropped_frac: Some(groups_dropped as f64 / groups_seen.max(1) as f64),
            groups: Some(kept.len()),
            sample_s,
            reward_s,
            sample_tokens_per_s: sampled_tokens as f64 / sample_s.max(1e-9),
            ..Default::default()
        };
        // Flatten to rows (prompt, completion, old logprobs, advantage).
        let mut rows: Vec<Row> = Vec::new();
        for (p, cs, adv) in kept {
            for ((ids, old), a) in cs.into_iter().zip(adv) {
                rows.push((p.clone(), ids, old, a as f32));
            }
        }
        self.update(&rows, lr, &mut rec)?;
        Ok(rec)
    }

    /// GRPO's update on `rows` (prompt, completion, old log-probs, advantage): `grpo.updates_per_batch` optimizer
    /// steps of the clipped surrogate, token-level mean over every completion token of the batch; fills the
    /// record's loss, gradient norm, clip fraction, KL and training times. No rows: nothing to do.
    fn update(&mut self, rows: &[Row], lr: f64, rec: &mut StepRecord) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let g = self.cfg.grpo.clone();
        let total_tokens: usize = rows.iter().map(|r| r.1.len()).sum();
        let vars = self.opt.vars().to_vec();
        let dev = self.policy.device().clone();
        let (clip_lo, clip_hi) = (g.clip_eps, if g.clip_eps_high > 0.0 { g.clip_eps_high } else { g.clip_eps });
        let (mut train_s, mut optim_s) = (0.0, 0.0);
        let (mut loss_sum, mut clipped, mut kl_sum, mut grad_norm) = (0.0, 0.0, 0.0, 0.0);
        let mut train_tokens = 0usize;
        for u in 0..g.updates_per_batch {
            let t = Instant::now();
            let mut acc = GradAccum::new(vars.len());
            loss_sum = 0.0;
            clipped = 0.0;
            kl_sum = 0.0;
            for mb in rows.chunks(g.micro_batch) {
                let pairs: Vec<(Vec<u32>, Vec<u32>)> = mb.iter().map(|r| (r.0.clone(), r.1.clone())).collect();
                let lp = self.policy.logprobs(&pairs)?;
                let old = if g.updates_per_batch == 1 {
                    lp.logprobs.detach()
                } else {
                    let c = lp.mask.dim(1)?;
                    let flat: Vec<f32> =
                        mb.iter().flat_map(|r| (0..c).map(|j| r.2.get(j).copied().unwrap_or(0.0))).collect();
                    Tensor::from_vec(flat, (mb.len(), c), &dev)?
                };
                let reference =
                    if g.kl_beta > 0.0 { Some(self.policy.reference_logprobs(&pairs)?.logprobs) } else { None };
                let adv = Tensor::from_vec(mb.iter().map(|r| r.3).collect::<Vec<f32>>(), mb.len(), &dev)?;
                let parts = grpo::grpo_loss(
                    &lp.logprobs,
                    &old,
                    reference.as_ref(),
                    &lp.mask,
                    &adv,
                    grpo::LossScalars { clip_lo, clip_hi, beta: g.kl_beta, total_tokens: total_tokens as f64 },
                )?;
                loss_sum += parts.loss.to_scalar::<f32>()? as f64;
                clipped += parts.clipped_tokens;
                kl_sum += parts.kl_sum;
                acc.add(&self.policy.backward(&lp, &parts.loss)?, &vars)?;
                train_tokens += pairs.iter().map(|p| p.0.len() + p.1.len()).sum::<usize>();
            }
            train_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            grad_norm = clip_grad_norm(&mut acc.grads, self.cfg.optimizer.grad_clip)?;
            self.opt.step(&acc.grads, lr)?;
            optim_s += t.elapsed().as_secs_f64();
            tracing::trace!(update = u, loss = loss_sum, "grpo update");
        }
        rec.loss = loss_sum;
        rec.grad_norm = grad_norm;
        rec.clip_frac = Some(clipped / total_tokens as f64);
        if g.kl_beta > 0.0 {
            rec.kl = Some(kl_sum / total_tokens as f64);
        }
        rec.train_s = train_s;
        rec.optim_s = optim_s;
        rec.train_tokens_per_s = train_tokens as f64 / train_s.max(1e-9);
        Ok(())
    }

    /// One RLVR step: `grpo.prompts_per_batch` training tasks, `grpo.group_size` episodes each, graded; groups
    /// whose (unmasked) rewards are all equal are dropped and more tasks sampled (dynamic sampling); every turn
    /// the policy wrote in a kept episode is a training row with its episode's advantage (the prompt as it was
    /// sampled is context, the completion is the target).
    fn rlvr_step(&mut self, step0: usize) -> Result<StepRecord> {
        let lr = self.lr(step0);
        let (mut rec, rows) = self.rlvr_batch()?;
        rec.lr = lr;
        self.update(&rows, lr, &mut rec)?;
        Ok(rec)
    }

    /// The episodes and training rows of the next RLVR step, without training: [`Trainer::rlvr_step`] trains on
    /// them, and tests read them. It advances the task stream and the sampling seeds as a step does.
    pub fn rlvr_batch(&mut self) -> Result<(StepRecord, Vec<Row>)> {
        let g = self.cfg.grpo.clone();
        let env = self.rlvr.take().ok_or_else(|| TrainError::Invalid("no RLVR sandbox".into()))?;
        let r = self.rlvr_rollouts(self.state.step, &env, &g);
        self.rlvr = Some(env);
        r
    }

    /// The sampling half of [`Trainer::rlvr_step`]: the record so far and the training rows.
    fn rlvr_rollouts(
        &mut self,
        step0: usize,
        env: &RlvrEnv,
        g: &crate::config::GrpoConfig,
    ) -> Result<(StepRecord, Vec<Row>)> {
        let cfg = self.cfg.rlvr.clone();
        let mut rows: Vec<Row> = Vec::new();
        let mut rewards_all = Vec::new();
        let (mut kept, mut groups_seen, mut groups_dropped, mut rounds) = (0usize, 0usize, 0usize, 0usize);
        let mut tally = EpisodeTally::default();
        let mut lines = Vec::new();
        while kept < g.prompts_per_batch {
            if rounds == g.max_sampling_rounds {
                self.partial_batches += 1;
                tracing::warn!(step = step0 + 1, kept, wanted = g.prompts_per_batch, "RLVR: dynamic sampling gave up");
                break;
            }
            rounds += 1;
            let tasks: Vec<usize> = (0..g.prompts_per_batch - kept).map(|_| self.next_task(env.train.len())).collect();
            let jobs: Vec<&Instance> =
                tasks.iter().flat_map(|&t| std::iter::repeat_n(&env.train[t], g.group_size)).collect();
            let seed = self.rng.next_u64();
            let (out, sample_s) = self.run_episodes(env, &jobs, seed, self.cfg.sampling)?;
            tally.sample_s += sample_s.sample_s;
            tally.rollout_s += sample_s.wall_s;
            for (gi, group) in out.chunks(g.group_size).enumerate() {
                groups_seen += 1;
                let scored: Vec<std::result::Result<f64, Masked>> =
                    group.iter().map(|r| rlvr::episode_reward(&r.run, &r.grade, &cfg)).collect();
                for (r, s) in group.iter().zip(&scored) {
                    tally.add(r, s);
                    lines.push(rollout_line(step0 + 1, "train", gi, &env.train[tasks[gi]].instance_id, r, s));
                }
                let ok: Vec<(usize, f64)> =
                    scored.iter().enumerate().filter_map(|(i, s)| s.as_ref().ok().map(|&x| (i, x))).collect();
                let rewards: Vec<f64> = ok.iter().map(|p| p.1).collect();
                rewards_all.extend_from_slice(&rewards);
                let equal = !grpo::keep_group(&rewards, g.std_eps);
                if rewards.len() < 2 || (g.dynamic_sampling && equal) {
                    groups_dropped += 1;
                    continue;
                }
                kept += 1;
                for (&(i, _), a) in ok.iter().zip(grpo::group_advantages(&rewards)) {
                    for t in group[i].turns.iter().filter(|t| !t.completion.is_empty()) {
                        rows.push((t.prompt.clone(), t.completion.clone(), t.logprobs.clone(), a as f32));
                    }
                }
            }
        }
        self.append_rollouts(&lines)?;
        let (reward_mean, reward_std) = grpo::mean_std(&rewards_all);
        let rec = StepRecord {
            phase: "rlvr".into(),
            reward_mean: Some(reward_mean),
            reward_std: Some(reward_std),
            format_rate: Some(tally.format_rate()),
            dropped_frac: Some(groups_dropped as f64 / groups_seen.max(1) as f64),
            groups: Some(kept),
            sample_s: tally.sample_s,
            sample_tokens_per_s: tally.tokens as f64 / tally.sample_s.max(1e-9),
            rlvr: Some(tally.record()),
            ..Default::default()
        };
        Ok((rec, rows))
    }

    /// Runs `jobs` (one episode each) with the policy sampled on this thread at `params`, `seed` opening the
    /// first round's seeds.
    fn run_episodes(
        &self,
        env: &RlvrEnv,
        jobs: &[&Instance],
        seed: u64,
        params: srl_core::SamplingParams,
    ) -> Result<(Vec<rlvr::Rollout>, rlvr::RolloutTimes)> {
        let policy = &self.policy;
        let max = self.cfg.model.max_prompt_tokens;
        let mut seeds = ChaCha8Rng::seed_from_u64(seed);
        let mut sample = |batch: &[(usize, &[Message], &str)]| {
            let prompts: Vec<Vec<u32>> = batch
                .iter()
                .map(|(_, m, pre)| policy.chat_prompt(m, pre, max).map(|p| p.ids))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let opts = SampleOptions { n: 1, seed: seeds.next_u64(), params };
            let comps = policy.sample(&prompts, &opts).map_err(|e| e.to_string())?;
            Ok(batch
                .iter()
                .zip(prompts)
                .zip(comps)
                .map(|((&(_, _, pre), prompt), c)| {
                    let reply = rlvr::reply(pre, &c.text, prompt.len(), c.ids.len());
                    (reply, TurnSample { prompt, completion: c.ids, logprobs: c.logprobs })
                })
                .collect())
        };
        let concurrency = self.cfg.rlvr.concurrency;
        Ok(rlvr::rollouts(&env.handle, env.runner.as_ref(), jobs, concurrency, &mut sample))
    }

    /// Validation of an RLVR stage: `rlvr.valid_episodes` episodes per held-out task (or per training task when
    /// none are held out) at `rlvr.valid_temperature`, seeded by the run's seed (never the training stream).
    pub fn validate_rlvr(&mut self) -> Result<ValidRecord> {
        let env = self.rlvr.take().ok_or_else(|| TrainError::Invalid("no RLVR sandbox".into()))?;
        let r = self.validate_rlvr_in(&env);
        self.rlvr = Some(env);
        r
    }

    fn validate_rlvr_in(&mut self, env: &RlvrEnv) -> Result<ValidRecord> {
        let cfg = self.cfg.rlvr.clone();
        let on_train = env.valid.is_empty();
        let tasks = if on_train { &env.train } else { &env.valid };
        let jobs: Vec<&Instance> =
            tasks.iter().flat_map(|t| std::iter::repeat_n(t, cfg.valid_episodes.max(1))).collect();
        let params = srl_core::SamplingParams {
            temperature: cfg.valid_temperature,
            max_new_tokens: self.cfg.validation.max_new_tokens,
            ..self.cfg.sampling
        };
        let seed = self.cfg.algorithm.seed ^ 0x7a11_d000 ^ self.state.step as u64;
        let (out, _) = self.run_episodes(env, &jobs, seed, params)?;
        let mut tally = EpisodeTally::default();
        let mut lines = Vec::new();
        let mut rewards = Vec::new();
        for (i, r) in out.iter().enumerate() {
            let s = rlvr::episode_reward(&r.run, &r.grade, &cfg);
            tally.add(r, &s);
            if let Ok(x) = s {
                rewards.push(x);
            }
            let group = i / cfg.valid_episodes.max(1);
            lines.push(rollout_line(self.state.step, "valid", group, &tasks[group].instance_id, r, &s));
        }
        self.append_rollouts(&lines)?;
        let rec = tally.record();
        Ok(ValidRecord {
            examples: out.len(),
            on_train,
            similarity: 0.0,
            format_rate: tally.format_rate(),
            reward_mean: grpo::mean_std(&rewards).0,
            reward_hist: [0; 6],
            resolve_rate: Some(rec.resolve_rate),
        })
    }

    /// Appends episode lines to `rollouts.jsonl`.
    fn append_rollouts(&self, lines: &[RolloutRecord]) -> Result<()> {
        let p = self.out.join(ROLLOUTS);
        let mut f =
            std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| TrainError::io(&p, e))?;
        for l in lines {
            let line = serde_json::to_string(l).map_err(|e| TrainError::Invalid(e.to_string()))?;
            writeln!(f, "{line}").map_err(|e| TrainError::io(&p, e))?;
        }
        Ok(())
    }

    /// Greedy validation on the held-out examples (or the first training examples when none are held out).
    pub fn validate(&mut self) -> Result<ValidRecord> {
        let max = self.cfg.validation.max_examples;
        let n = if max == 0 { self.valid.len() } else { self.valid.len().min(max) };
        let budget = self.cfg.model.max_prompt_tokens;
        let opts = StepEvalOptions {
            prefill: self.cfg.data.prefill.clone(),
            ..StepEvalOptions::greedy(self.cfg.validation.max_new_tokens, self.metric)
        };
        let (policy, valid) = (&self.policy, &self.valid[..n]);
        let (cache, stats) = (&mut self.valid_prompt_cache, &mut self.prompt_stats);
        let prefill = &self.cfg.data.prefill;
        let mut ids = |i: usize| cached_prompt(&mut cache[i], policy, &valid[i], prefill, budget, stats);
        let s = evaluate_steps(policy, valid, &mut ids, &opts, &mut |_| {})?;
        Ok(ValidRecord {
            examples: n,
            on_train: self.valid_on_train,
            similarity: s.all.similarity(),
            format_rate: s.all.format_rate(),
            reward_mean: s.all.reward_mean(),
            reward_hist: s.all.reward_hist,
            resolve_rate: None,
        })
    }

    /// Writes a checkpoint of the current state atomically, updates `latest`, prunes, and writes the plots.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let root = self.out.join("checkpoints");
        std::fs::create_dir_all(&root).map_err(|e| TrainError::io(&root, e))?;
        let name = checkpoint::step_dir_name(self.state.step);
        let tmp = root.join(format!(".tmp-{name}"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        checkpoint::save_vars(&tmp.join(checkpoint::TRAINABLE), &self.policy.named_trainable_vars())?;
        self.opt.save(&tmp.join(checkpoint::OPTIMIZER))?;
        if self.policy.lora().is_some() {
            self.policy.save_adapter(&tmp.join("adapter"))?;
        }
        let mut state = self.state.clone();
        state.rng_word_pos = self.rng.get_word_pos().to_string();
        state.rng_seed = self.cfg.algorithm.seed;
        state.elapsed_s += self.started.elapsed().as_secs_f64();
        let json = serde_json::to_string_pretty(&state).map_err(|e| TrainError::Invalid(e.to_string()))?;
        let spath = tmp.join(checkpoint::STATE);
        srl_core::fs::write_atomic(&spath, json.as_bytes()).map_err(|e| TrainError::io(&spath, e))?;
        let dir = root.join(&name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
        }
        std::fs::rename(&tmp, &dir).map_err(|e| TrainError::io(&dir, e))?;
        let lpath = root.join(checkpoint::LATEST);
        srl_core::fs::write_atomic(&lpath, name.as_bytes()).map_err(|e| TrainError::io(&lpath, e))?;
        if let Some((best, value)) = self.state.best {
            let metric = self.state.best_metric.clone().unwrap_or_else(|| "similarity".into());
            let mut j = serde_json::json!({ "step": best, "metric": metric, "value": value,
                "dir": checkpoint::step_dir_name(best) });
            if metric == "similarity" {
                j["valid_similarity"] = serde_json::json!(value);
            }
            let bpath = root.join("best.json");
            srl_core::fs::write_atomic(&bpath, j.to_string().as_bytes()).map_err(|e| TrainError::io(&bpath, e))?;
        }
        checkpoint::prune(&root, self.cfg.checkpoint.keep_last, self.state.best.map(|b| b.0))?;
        if self.cfg.logging.plots {
            self.write_plots()?;
        }
        tracing::info!(dir = %dir.display(), "checkpoint");
        Ok(dir)
    }

    /// `plots/reward`, `plots/valid_similarity`, `plots/loss` (`.png` and `.svg`).
    pub fn write_plots(&self) -> Result<()> {
        let dir = self.out.join("plots");
        let pts = |f: &dyn Fn(&StepRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            self.records.iter().filter_map(|r| f(r).map(|y| (r.step as f64, y))).collect()
        };
        let reward = pts(&|r| r.reward_mean);
        let fmt = pts(&|r| r.format_rate);
        let resolved = pts(&|r| r.rlvr.as_ref().map(|e| e.resolve_rate));
        crate::plot::write_plot(
            &dir,
            "reward",
            "Rollout reward (GRPO, RLVR)",
            "reward",
            &[("mean reward", &reward), ("format-valid rate", &fmt), ("RLVR resolve rate", &resolved)],
        )?;
        // Similarity validates SRL stages; an RLVR stage validates by resolve rate.
        let vs = pts(&|r| r.valid.as_ref().filter(|v| v.resolve_rate.is_none()).map(|v| v.similarity));
        let vf = pts(&|r| r.valid.as_ref().map(|v| v.format_rate));
        let vr = pts(&|r| r.valid.as_ref().and_then(|v| v.resolve_rate));
        crate::plot::write_plot(
            &dir,
            "valid_similarity",
            "Validation",
            "similarity / rate",
            &[("similarity (greedy)", &vs), ("format-valid rate", &vf), ("resolve rate (RLVR episodes)", &vr)],
        )?;
        let sft = pts(&|r| (r.phase == "sft").then_some(r.loss));
        // A GRPO step whose groups were all dropped trained on nothing: no loss point.
        let grpo_loss = pts(&|r| (r.phase == "grpo" && r.groups != Some(0)).then_some(r.loss));
        let rlvr_loss = pts(&|r| (r.phase == "rlvr" && r.groups != Some(0)).then_some(r.loss));
        crate::plot::write_plot(
            &dir,
            "loss",
            "Loss",
            "loss",
            &[("SFT loss", &sft), ("GRPO loss", &grpo_loss), ("RLVR loss", &rlvr_loss)],
        )?;
        Ok(())
    }

    /// `final/`: the adapter (LoRA) or the full weights (full fine-tuning) as loadable folders, and `prompt.json`:
    /// how the prompts were rendered, which `srl-swe eval --policy` / `rollout` read so the agent sees the same bytes
    /// ([`srl_policy::TrainedModel`] owns that layout).
    fn export_final(&self) -> Result<()> {
        let prompt = crate::data::prompt_config(&self.cfg.data);
        srl_policy::TrainedModel::write(&self.out.join("final"), &self.policy, &prompt)?;
        Ok(())
    }
}
