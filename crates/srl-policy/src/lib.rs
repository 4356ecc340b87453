//! The SRL policy: a trainable Qwen2-family model in candle, with its tokenizer, Qwen2.5's chat template,
//! batched sampling with a KV cache, differentiable log-probs, and LoRA adapters in PEFT's layout.
//!
//! # Use from a trainer
//!
//! ```no_run
//! use srl_policy::{LoraConfig, Policy, PolicyOptions, SampleOptions, Training};
//! # fn main() -> srl_policy::Result<()> {
//! # let messages: Vec<srl_core::Message> = vec![];
//! let opts = PolicyOptions { training: Training::Lora(LoraConfig::default()), ..Default::default() };
//! let policy = Policy::load("path/to/hf-folder", &opts)?;
//! let prompt = policy.chat_prompt_ids(&messages, 4096)?;
//! let group = policy.sample(&[prompt.clone()], &SampleOptions { n: 8, ..Default::default() })?;
//! let pairs: Vec<_> = group.iter().map(|c| (prompt.clone(), c.ids.clone())).collect();
//! let new = policy.logprobs(&pairs)?; // differentiable [G, T] + mask
//! let reference = policy.reference_logprobs(&pairs)?; // base model, no graph
//! let vars = policy.trainable_vars(); // give these to the optimizer
//! # let _ = (new, reference, vars);
//! # Ok(()) }
//! ```
//!
//! # Code map
//! * [`model`]: the Qwen2 architecture (differentiable and fused paths, KV cache, masks).
//! * `cpu_attention`, `cpu_bf16`: the fused path's CPU kernels (blocked attention without the score tensor; bf16
//!   products for few rows).
//! * [`policy`]: [`Policy`], loading, sampling, log-probs, saving.
//! * [`chat`]: tokenizer wrapper, ChatML template, left truncation of history.
//! * [`sample`]: sampling options and the per-row token choice.
//! * [`lora`]: LoRA adapters, PEFT save/load.
//! * [`files`]: Hugging Face folders, the local hub cache, safetensors.
//! * [`init`]: random models and the BPE tokenizer trained on the project's text.
//! * [`config`]: `config.json` and `generation_config.json`.
//! * [`bench`]: the benchmark behind `srl-swe model bench` (prefill, decoding, a GRPO micro-batch).
//! * [`trained`]: [`TrainedModel`], the trained-model folder (`final/`): written by the trainer, opened by the
//!   agent and the command line.
//!
//! # Invariants
//! * Sampling uses detached weights that share storage with the trainable `Var`s: optimizer updates are seen in
//!   place, and no graph is recorded while sampling.
//! * [`Completion::logprobs`] are the model's own log-probs (temperature 1, before top-k/top-p) under the sampling
//!   weights; [`Policy::logprobs`] recomputes the same numbers (tested to 1e-4): GRPO's old log-probs.
//! * Under LoRA the base weights are plain tensors (never `Var`s, never in the optimizer); the base model without
//!   adapters is the KL reference at no extra memory. Full fine-tuning keeps a reference copy only when asked.
//! * Completions include their stop token (`<|im_end|>` / eos) in `ids`, so training teaches the model to stop.
//! * Random models ([`init_model_dir`]) are byte-identical for a seed: weights drawn from a seeded ChaCha8 RNG
//!   (normal draws through `rand_distr`), the BPE tokenizer trained on fixed text.
//!
//! # Why our own model file
//! [`model`] is our own Qwen2 architecture file because candle-transformers' `qwen2` cannot be trained: its fused
//! `rms_norm`, `softmax_last_dim` and `rope` kernels have no backward and cut the graph silently (1 of 26
//! variables got a gradient), and it has no per-row positions, key-padding mask or caller-owned KV cache. Ours
//! has a differentiable path (`rms_norm_slow`, plain softmax, explicit RoPE) and a fused one over the same weights.
//!
//! # Memory
//! candle's matmul backward computes the right operand's gradient even for frozen weights, so a LoRA backward
//! still builds (and keeps until the end of `backward`) a gradient the size of every base weight it touched;
//! [`model`] flattens activations to 2-D before each projection so that this is one weight's size and not
//! batch x weight.
//!
//! # Limits
//! * CUDA/bf16 needs the `cuda` feature (and nvcc to build); bf16 itself is exercised on CPU by a test.
//! * No HTTP download: an uncached repo id is an error that tells the user to run `hf download ORG/NAME`.
//! * LoRA dropout other than 0, DoRA, per-module ranks and regex `target_modules` are refused with a named
//!   error; sliding-window attention (`use_sliding_window: true`) is refused; no repetition penalty.

pub mod bench;
pub mod chat;
pub mod config;
mod cpu_attention;
mod cpu_bf16;
mod cpu_linear;
pub mod error;
pub mod files;
pub mod gguf;
pub mod init;
pub mod lora;
pub mod model;
pub mod policy;
mod rng;
pub mod sample;
pub mod trained;

pub use candle_core::{DType, Device, Tensor, Var};
pub use chat::{ChatPrompt, ChatTemplate, ChatTokenizer};
pub use config::{Config, GenerationConfig};
pub use error::{PolicyError, Result};
pub use files::ModelParts;
pub use gguf::{ImportReport, import_gguf};
pub use init::{Preset, init_model_dir, random_parts};
pub use lora::{LoraAdapters, LoraConfig};
pub use policy::{Policy, PolicyOptions, TokenLogprobs, Training, candle_device, candle_dtype};
pub use sample::{Completion, FinishReason, SampleOptions, SampleTiming};
pub use srl_core::{DTypeSpec, DeviceSpec, SamplingParams};
pub use trained::TrainedModel;

/// Peak resident memory of this process in bytes (`VmHWM` of `/proc/self/status`), where Linux reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
