//! The policy benchmark behind `srl-swe model bench`: prefill, decoding and one GRPO micro-batch on a Hugging
//! Face folder, with the peak resident memory of each phase.
//!
//! The work is deterministic: its text is this crate's own source (compiled in), cut into a chat prompt of about
//! `prefill_tokens` tokens and, for training, a prompt of `train_prompt_tokens` tokens with `train_rollouts`
//! completions of `train_completion_tokens` tokens each. [`Workload`] holds the token ids; written as JSON, it is
//! what `scripts/bench_torch.py` runs in PyTorch, so both sides do the same work on the same ids.
//!
//! Phases, in order:
//! * `prefill`: the prompt's forward pass and its last position's logits ([`Policy::sample_timed`]'s prefill).
//! * `greedy_b1`: greedy decoding of `decode_tokens` tokens after that prompt, batch 1 (stop tokens ignored).
//! * `sampled_b8`: `decode_batch` samples (temperature 1) of `decode_tokens` tokens after the same prompt: one
//!   prefill whose KV cache the rows share, then the batch's decoding; the decoding is timed.
//! * `grpo_fwd`, `grpo_bwd`: with LoRA (`lora_r`, alpha `2 r`, all seven projections of every layer), the
//!   policy's differentiable log-probs of the rollouts ([`Policy::logprobs`]) and the backward pass
//!   ([`Policy::backward`]) of a GRPO-style loss `-sum_b adv_b * sum_t lp_bt / sum mask`, `train_micro_batch`
//!   rollouts at a time (gradients summed), with or without gradient checkpointing; times are summed over the
//!   micro-batches, the peak is over all of them.
//!
//! The peak RSS of a phase is `VmHWM` after it, reset before it through `/proc/self/clear_refs` (Linux); it
//! includes the weights. Decoding tokens/s count every new token of every row over the decoding time (the first
//! token of a row comes from the prefill's logits, the other `decode_tokens - 1` each take a forward pass).

use std::time::Instant;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use srl_core::{DTypeSpec, Message, SamplingParams};

use crate::error::{PolicyError, Result};
use crate::lora::LoraConfig;
use crate::policy::{Policy, PolicyOptions, Training};
use crate::sample::SampleOptions;

/// The text the workload is cut from: this crate's source files, in a fixed order.
const SOURCE: &[&str] = &[
    include_str!("model.rs"),
    include_str!("policy.rs"),
    include_str!("lora.rs"),
    include_str!("chat.rs"),
    include_str!("gguf.rs"),
    include_str!("config.rs"),
    include_str!("files.rs"),
    include_str!("init.rs"),
    include_str!("trained.rs"),
    include_str!("sample.rs"),
];

/// What to measure. `Default`: the sizes of issue 13 (3,000-token prefill, 64 new tokens at batch 1 and 8, a GRPO
/// micro-batch of 4 x (1,000 + 128) tokens with LoRA r = 16), f32.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// A Hugging Face folder (or a repo id in the local cache).
    pub model: String,
    pub dtype: DTypeSpec,
    pub prefill_tokens: usize,
    pub decode_tokens: usize,
    pub decode_batch: usize,
    pub train_rollouts: usize,
    pub train_prompt_tokens: usize,
    pub train_completion_tokens: usize,
    pub lora_r: usize,
    /// Rollouts per forward/backward of the GRPO phases (gradients summed over the micro-batches); 0: all at once.
    pub train_micro_batch: usize,
    /// Gradient checkpointing in the GRPO phases (see [`PolicyOptions::gradient_checkpointing`]).
    pub gradient_checkpointing: bool,
    /// Run only these phases (names as in the module doc); empty: all.
    pub phases: Vec<String>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            model: String::new(),
            dtype: DTypeSpec::F32,
            prefill_tokens: 3000,
            decode_tokens: 64,
            decode_batch: 8,
            train_rollouts: 4,
            train_prompt_tokens: 1000,
            train_completion_tokens: 128,
            lora_r: 16,
            train_micro_batch: 0,
            gradient_checkpointing: false,
            phases: Vec::new(),
        }
    }
}

/// The token ids of the benchmark's work, shared with the reference side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// The chat prompt of the prefill and decoding phases.
    pub prompt: Vec<u32>,
    pub decode_tokens: usize,
    pub decode_batch: usize,
    /// Seed of the sampled phase (ours: ChaCha8 streams; the reference draws its own).
    pub seed: u64,
    /// GRPO micro-batch: (prompt, completion) per rollout.
    pub train_pairs: Vec<(Vec<u32>, Vec<u32>)>,
    /// The rollouts' advantages in the loss.
    pub advantages: Vec<f32>,
    pub lora_r: usize,
    pub lora_alpha: f64,
    pub lora_targets: Vec<String>,
    /// Rollouts per forward/backward (0: all at once).
    #[serde(default)]
    pub micro_batch: usize,
    /// Gradient checkpointing in the training phases (PyTorch: `gradient_checkpointing_enable`).
    #[serde(default)]
    pub gradient_checkpointing: bool,
}

/// One measured phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    pub name: String,
    /// Tokens the phase processed (prompt tokens, new tokens of all rows, or training tokens).
    pub tokens: usize,
    pub secs: f64,
    pub tokens_per_sec: f64,
    /// `VmHWM` after the phase, reset before it; `None` where Linux does not report it.
    pub peak_rss_bytes: Option<u64>,
}

/// What `srl-swe model bench` prints and writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub side: String,
    pub versions: serde_json::Value,
    pub model: String,
    pub dtype: String,
    pub threads: usize,
    pub cpu: Option<String>,
    pub prompt_tokens: usize,
    /// The first greedy ids after the prompt (the two sides should agree in f32).
    pub greedy_ids: Vec<u32>,
    pub phases: Vec<PhaseResult>,
}

/// Resets `VmHWM` to the current RSS (`/proc/self/clear_refs`, Linux); false where that is not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn cpu_name() -> Option<String> {
    let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

/// The benchmark's token ids for `policy`'s tokenizer.
pub fn workload(policy: &Policy, opts: &BenchOptions) -> Result<Workload> {
    let tok = policy.tokenizer();
    let text: String = SOURCE.concat();
    let ids = tok.encode(&text)?;
    let system = Message::system("You are a helpful assistant.");
    let ask = "Explain what this Rust code does, function by function.\n\n```rust\n";
    // A chat prompt of about `n` tokens: the code tokens from `offset` on, as many as fit.
    let prompt_of = |offset: usize, n: usize| -> Result<(Vec<u32>, usize)> {
        let frame = policy.chat_prompt_ids(&[system.clone(), Message::user(format!("{ask}```"))], 0)?.len();
        let k = n.saturating_sub(frame).max(1);
        let end = (offset + k).min(ids.len());
        let code = tok.decode(&ids[offset..end], false)?;
        let p = policy.chat_prompt_ids(&[system.clone(), Message::user(format!("{ask}{code}\n```"))], 0)?;
        Ok((p, end))
    };
    let (prompt, mut at) = prompt_of(0, opts.prefill_tokens)?;
    let (train_prompt, end) = prompt_of(at, opts.train_prompt_tokens)?;
    at = end;
    let mut train_pairs = Vec::with_capacity(opts.train_rollouts);
    for _ in 0..opts.train_rollouts {
        let c = opts.train_completion_tokens;
        if at + c > ids.len() {
            return Err(PolicyError::Invalid("the benchmark's text is too short for these sizes".into()));
        }
        train_pairs.push((train_prompt.clone(), ids[at..at + c].to_vec()));
        at += c;
    }
    let advantages =
        (0..opts.train_rollouts).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 } / (1 + i / 2) as f32).collect();
    let lora = LoraConfig { r: opts.lora_r, alpha: 2.0 * opts.lora_r as f64, ..Default::default() };
    Ok(Workload {
        prompt,
        decode_tokens: opts.decode_tokens,
        decode_batch: opts.decode_batch,
        seed: 1,
        train_pairs,
        advantages,
        lora_r: lora.r,
        lora_alpha: lora.alpha,
        lora_targets: lora.target_modules,
        micro_batch: opts.train_micro_batch,
        gradient_checkpointing: opts.gradient_checkpointing,
    })
}

/// Runs the benchmark; `progress` is told each phase's result as it ends. Returns the report and the workload.
pub fn run(opts: &BenchOptions, progress: &mut dyn FnMut(&PhaseResult)) -> Result<(BenchReport, Workload)> {
    let want = |p: &str| opts.phases.is_empty() || opts.phases.iter().any(|x| x == p);
    let mut phases = Vec::new();
    let mut record = |r: PhaseResult, phases: &mut Vec<PhaseResult>| {
        progress(&r);
        phases.push(r);
    };
    let peak = crate::peak_rss_bytes;
    let frozen = PolicyOptions { dtype: opts.dtype, ..Default::default() };
    let policy = Policy::load(&opts.model, &frozen)?;
    let work = workload(&policy, opts)?;
    let dtype = format!("{:?}", policy.dtype()).to_lowercase();
    let greedy = SamplingParams { temperature: 0.0, top_p: 1.0, top_k: 0, max_new_tokens: opts.decode_tokens };
    // Warm-up: a short prompt, a few tokens.
    policy.sample_timed(
        &[work.prompt[..work.prompt.len().min(64)].to_vec()],
        &SampleOptions { n: 1, seed: 0, params: SamplingParams { max_new_tokens: 4, ..greedy } },
        true,
    )?;
    let mut greedy_ids = Vec::new();
    if want("prefill") || want("greedy_b1") {
        reset_peak_rss();
        let (out, t) = policy.sample_timed(
            std::slice::from_ref(&work.prompt),
            &SampleOptions { n: 1, seed: 0, params: greedy },
            true,
        )?;
        let rss = peak();
        greedy_ids = out[0].ids.clone();
        let n = work.prompt.len();
        if want("prefill") {
            record(phase("prefill", n, t.prefill_secs, rss), &mut phases);
        }
        if want("greedy_b1") {
            record(phase("greedy_b1", out[0].ids.len(), t.decode_secs, rss), &mut phases);
        }
    }
    if want("sampled_b8") {
        reset_peak_rss();
        let params = SamplingParams { temperature: 1.0, ..greedy };
        let so = SampleOptions { n: opts.decode_batch, seed: work.seed, params };
        let (out, t) = policy.sample_timed(std::slice::from_ref(&work.prompt), &so, true)?;
        let n: usize = out.iter().map(|c| c.ids.len()).sum();
        record(phase("sampled_b8", n, t.decode_secs, peak()), &mut phases);
    }
    drop(policy);
    if want("grpo_fwd") || want("grpo_bwd") {
        let lora = LoraConfig {
            r: work.lora_r,
            alpha: work.lora_alpha,
            target_modules: work.lora_targets.clone(),
            ..Default::default()
        };
        let popts = PolicyOptions {
            training: Training::Lora(lora),
            gradient_checkpointing: work.gradient_checkpointing,
            ..frozen
        };
        let policy = Policy::load(&opts.model, &popts)?;
        let tokens: usize = work.train_pairs.iter().map(|(p, c)| p.len() + c.len()).sum();
        let completion_tokens: usize = work.train_pairs.iter().map(|(_, c)| c.len()).sum();
        let mb = if work.micro_batch == 0 { work.train_pairs.len().max(1) } else { work.micro_batch };
        let vars = policy.trainable_vars();
        let mut grads: Vec<Option<Tensor>> = vec![None; vars.len()];
        let (mut fwd, mut bwd) = (0.0, 0.0);
        reset_peak_rss();
        let mut rss_fwd = None;
        for (pairs, adv) in work.train_pairs.chunks(mb).zip(work.advantages.chunks(mb)) {
            let adv = Tensor::from_slice(adv, (adv.len(), 1), policy.device())?;
            let t = Instant::now();
            let lp = policy.logprobs(pairs)?;
            let loss = (lp.logprobs.broadcast_mul(&adv)?.sum_all()? / completion_tokens as f64)?.neg()?;
            fwd += t.elapsed().as_secs_f64();
            rss_fwd = rss_fwd.max(peak());
            let t = Instant::now();
            let store = policy.backward(&lp, &loss)?;
            drop(lp);
            for (slot, v) in grads.iter_mut().zip(&vars) {
                if let Some(g) = store.get(v.as_tensor()) {
                    *slot = Some(match slot.take() {
                        Some(acc) => (acc + g)?,
                        None => g.clone(),
                    });
                }
            }
            bwd += t.elapsed().as_secs_f64();
        }
        let rss = peak();
        let missing = grads.iter().filter(|g| g.is_none()).count();
        if missing > 0 {
            return Err(PolicyError::Invalid(format!("{missing} LoRA variables got no gradient")));
        }
        if want("grpo_fwd") {
            record(phase("grpo_fwd", tokens, fwd, rss_fwd), &mut phases);
        }
        if want("grpo_bwd") {
            record(phase("grpo_bwd", tokens, bwd, rss), &mut phases);
        }
    }
    let report = BenchReport {
        side: "srl-swe".into(),
        versions: serde_json::json!({ "srl-swe": env!("CARGO_PKG_VERSION") }),
        model: opts.model.clone(),
        dtype,
        threads: candle_core::utils::get_num_threads(),
        cpu: cpu_name(),
        prompt_tokens: work.prompt.len(),
        greedy_ids,
        phases,
    };
    Ok((report, work))
}

fn phase(name: &str, tokens: usize, secs: f64, peak_rss_bytes: Option<u64>) -> PhaseResult {
    PhaseResult { name: name.into(), tokens, secs, tokens_per_sec: tokens as f64 / secs.max(1e-9), peak_rss_bytes }
}
