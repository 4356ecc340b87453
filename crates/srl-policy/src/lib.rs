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
//! let group = policy.sample(&[prompt.clone()], &SampleOptions { n: 8, temperature: 1.0, ..Default::default() })?;
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
//! * [`policy`]: [`Policy`], loading, sampling, log-probs, saving.
//! * [`chat`]: tokenizer wrapper, ChatML template, left truncation of history.
//! * [`sample`]: sampling options and the per-row token choice.
//! * [`lora`]: LoRA adapters, PEFT save/load.
//! * [`files`]: Hugging Face folders, the local hub cache, safetensors.
//! * [`init`]: random models and the BPE tokenizer trained on the project's text.
//! * [`config`]: `config.json` and `generation_config.json`.

pub mod chat;
pub mod config;
pub mod error;
pub mod files;
pub mod init;
pub mod lora;
pub mod model;
pub mod policy;
mod rng;
pub mod sample;

pub use candle_core::{DType, Device, Tensor, Var};
pub use chat::{ChatPrompt, ChatTemplate, ChatTokenizer};
pub use config::{Config, GenerationConfig};
pub use error::{PolicyError, Result};
pub use init::{Preset, init_model_dir, random_parts};
pub use lora::{LoraAdapters, LoraConfig};
pub use policy::{Policy, PolicyOptions, TokenLogprobs, Training, clip_grad_norm, default_dtype};
pub use sample::{Completion, FinishReason, SampleOptions};

/// Peak resident memory of this process in bytes (`VmHWM` of `/proc/self/status`), where Linux reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
