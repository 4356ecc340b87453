//! [`Policy`]: the model, its tokenizer and its parameters, with the calls a trainer makes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::backprop::GradStore;
use candle_core::{D, DType, Device, Tensor, Var};
use rand::SeedableRng;
use srl_core::{DTypeSpec, DeviceSpec, Message};

use crate::chat::{ChatPrompt, ChatTemplate, ChatTokenizer};
use crate::config::{Config, GenerationConfig};
use crate::error::{PolicyError, Result};
use crate::files::{self, CONFIG, GENERATION_CONFIG, ModelParts, TOKENIZER, TOKENIZER_CONFIG, write_folder};
use crate::lora::{LoraAdapters, LoraConfig, LoraModule};
use crate::model::{LoraPair, Pass, Qwen2, attention_mask, positions};
use crate::sample::{Completion, FinishReason, SampleOptions, SampleTiming, choose, token_logprob};

/// What is trained.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Training {
    /// Nothing (inference): weights are plain tensors.
    #[default]
    Frozen,
    /// Every weight is a [`Var`]. With `keep_reference`, a frozen copy of the initial weights is kept for
    /// [`Policy::reference_logprobs`] (twice the weight memory); without it there is no reference model.
    Full { keep_reference: bool },
    /// LoRA adapters on the base weights, which stay plain tensors; the base model is the KL reference at no
    /// extra memory.
    Lora(LoraConfig),
}

/// How to load a policy. `Default`: CPU, `auto` dtype (f32 on CPU), frozen, Qwen2.5's chat template.
#[derive(Clone, Debug, Default)]
pub struct PolicyOptions {
    /// Where the model runs (CUDA needs the `cuda` build feature; see [`candle_device`]).
    pub device: DeviceSpec,
    /// Weights are cast to it on load; `auto`: f32 on CPU, bf16 on CUDA (see [`candle_dtype`]).
    pub dtype: DTypeSpec,
    pub training: Training,
    /// `None`: [`ChatTemplate::default`] (Qwen2.5's, with its default system message).
    pub template: Option<ChatTemplate>,
    /// Gradient checkpointing for [`Policy::logprobs`]: keep each layer's input only and recompute one layer at
    /// a time in [`Policy::backward`] (the same gradients; about one more forward pass of compute, activation
    /// memory of one layer instead of all). Also [`Policy::set_gradient_checkpointing`].
    pub gradient_checkpointing: bool,
}

/// The candle device of a [`DeviceSpec`]. CUDA in a build without the `cuda` feature is an error that says so.
pub fn candle_device(spec: DeviceSpec) -> Result<Device> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(n) if cfg!(feature = "cuda") => Device::new_cuda(n)
            .map_err(|e| PolicyError::Invalid(format!("device `{spec}`: cannot open CUDA device {n}: {e}"))),
        DeviceSpec::Cuda(_) => Err(PolicyError::Invalid(format!(
            "device `{spec}`: this build has no CUDA support (rebuild with `--features cuda`, which needs nvcc), \
             or use `cpu`"
        ))),
    }
}

/// The candle dtype of a [`DTypeSpec`] on `device`: `auto` is bf16 on CUDA and f32 elsewhere.
pub fn candle_dtype(spec: DTypeSpec, device: &Device) -> DType {
    let on = if device.is_cuda() { DeviceSpec::Cuda(0) } else { DeviceSpec::Cpu };
    match spec.resolve(on) {
        DTypeSpec::Bf16 => DType::BF16,
        DTypeSpec::F16 => DType::F16,
        DTypeSpec::F32 | DTypeSpec::Auto => DType::F32,
    }
}

/// Per-token log-probs of completions, `[B, T]` with `T` the longest completion of the batch.
#[derive(Clone, Debug)]
pub struct TokenLogprobs {
    /// f32 log-probs, 0 at padding (already multiplied by `mask`). Differentiable when returned by
    /// [`Policy::logprobs`].
    pub logprobs: Tensor,
    /// f32, 1 for completion tokens and 0 for padding.
    pub mask: Tensor,
    /// Completion length per row.
    pub lengths: Vec<usize>,
    /// The layer inputs kept by a checkpointed [`Policy::logprobs`], for [`Policy::backward`].
    checkpoints: Option<std::sync::Arc<crate::model::Checkpoints>>,
}

/// A Qwen2-family policy: config, tokenizer, weights (frozen, fully trainable, or with LoRA adapters), and two
/// views of one set of weights: a differentiable model for [`Policy::logprobs`] and a detached one with fused
/// kernels and a KV cache for [`Policy::sample`]. Optimizer updates of [`Policy::trainable_vars`] act in place,
/// so both views always agree.
pub struct Policy {
    source: Option<PathBuf>,
    config: Config,
    generation: GenerationConfig,
    tokenizer: ChatTokenizer,
    tokenizer_json: String,
    tokenizer_config_json: Option<String>,
    device: Device,
    dtype: DType,
    /// Base weights by checkpoint name (the tensors of the `Var`s in full fine-tuning).
    base: BTreeMap<String, Tensor>,
    full_vars: Vec<(String, Var)>,
    lora: Option<LoraAdapters>,
    train_model: Qwen2,
    sample_model: Qwen2,
    /// Full fine-tuning's frozen copy (detached), when kept.
    full_reference: Option<Qwen2>,
    stop_ids: Vec<u32>,
    pad_id: u32,
    gradient_checkpointing: bool,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("source", &self.source)
            .field("dtype", &self.dtype)
            .field("params", &self.config.num_params())
            .field("lora", &self.lora.as_ref().map(|l| &l.config))
            .field("full", &!self.full_vars.is_empty())
            .finish()
    }
}

impl Policy {
    /// Loads a Hugging Face folder, or a repo id from the local Hugging Face cache (see
    /// [`files::resolve_model`]): `config.json`, `tokenizer.json`, `model.safetensors` or its sharded index,
    /// and `generation_config.json` and `tokenizer_config.json` when present.
    pub fn load(model: &str, opts: &PolicyOptions) -> Result<Policy> {
        let dir = files::resolve_model(model)?;
        let cfg_path = dir.join(CONFIG);
        let config = Config::from_file(&cfg_path)?;
        let tok_path = dir.join(TOKENIZER);
        let tokenizer_json = std::fs::read_to_string(&tok_path).map_err(|e| PolicyError::io(&tok_path, e))?;
        let gen_path = dir.join(GENERATION_CONFIG);
        let generation = if gen_path.exists() {
            GenerationConfig::from_file(&gen_path)?
        } else {
            tracing::debug!(path = %gen_path.display(), "no generation config; stop tokens from config.json");
            GenerationConfig::default()
        };
        let tc_path = dir.join(TOKENIZER_CONFIG);
        let tokenizer_config_json = std::fs::read_to_string(&tc_path).ok();
        let device = candle_device(opts.device)?;
        let dtype = candle_dtype(opts.dtype, &device);
        let weights = files::load_weights(&files::weight_files(&dir)?, &config, dtype, &device)?;
        let parts = ModelParts { config, generation, tokenizer_json, tokenizer_config_json, weights };
        let mut p = Self::build(parts, opts, device, Some(dir.clone()))?;
        p.source = Some(dir);
        Ok(p)
    }

    /// A policy from in-memory parts (e.g. [`crate::init::random_parts`]).
    pub fn from_parts(parts: ModelParts, opts: &PolicyOptions) -> Result<Policy> {
        Self::build(parts, opts, candle_device(opts.device)?, None)
    }

    /// `device`: `opts.device` opened once (a second open of a CUDA device would be another candle device).
    fn build(parts: ModelParts, opts: &PolicyOptions, device: Device, dir: Option<PathBuf>) -> Result<Policy> {
        let ModelParts { config, generation, tokenizer_json, tokenizer_config_json, weights } = parts;
        let name = |f: &str| dir.as_ref().map(|d| d.join(f)).unwrap_or_else(|| PathBuf::from(f));
        config.validate(&name(CONFIG))?;
        let tok_path = name(TOKENIZER);
        let inner = tokenizer_json
            .parse::<tokenizers::Tokenizer>()
            .map_err(|e| PolicyError::Tokenizer { path: tok_path.clone(), message: e.to_string() })?;
        let mut tokenizer =
            ChatTokenizer::new(inner).map_err(|message| PolicyError::Tokenizer { path: tok_path.clone(), message })?;
        if let Some(t) = &opts.template {
            tokenizer.set_template(t.clone());
        }
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(PolicyError::Tokenizer {
                path: tok_path,
                message: format!(
                    "{} tokens, more than config.json's vocab_size {}",
                    tokenizer.vocab_size(),
                    config.vocab_size
                ),
            });
        }
        let mut stop_ids = vec![tokenizer.im_end_id()];
        stop_ids.extend(tokenizer.endoftext_id());
        stop_ids.extend(generation.eos_token_id.iter().flat_map(|t| t.to_vec()));
        stop_ids.extend(config.eos_token_id.iter().flat_map(|t| t.to_vec()));
        stop_ids.sort_unstable();
        stop_ids.dedup();
        let pad_id = generation.pad_token_id.or(tokenizer.endoftext_id()).unwrap_or(tokenizer.im_end_id());

        let dtype = candle_dtype(opts.dtype, &device);
        let mut base = BTreeMap::new();
        for (k, t) in weights {
            base.insert(k, t.to_device(&device)?.to_dtype(dtype)?);
        }
        let mut full_vars = Vec::new();
        let mut full_reference = None;
        let mut lora = None;
        match &opts.training {
            Training::Frozen => {}
            Training::Full { keep_reference } => {
                let mut vars = BTreeMap::new();
                for (k, t) in &base {
                    let v = Var::from_tensor(t)?;
                    vars.insert(k.clone(), v.as_tensor().clone());
                    full_vars.push((k.clone(), v));
                }
                if *keep_reference {
                    full_reference = Some(Qwen2::new(&config, &mut |n| get(&base, n))?.detached());
                }
                base = vars;
            }
            Training::Lora(cfg) => {
                let dims = |n: &str| proj_dims(&config, n);
                lora = Some(LoraAdapters::new(cfg, config.num_hidden_layers, &dims, dtype, &device)?);
            }
        }
        let train_model = Qwen2::new(&config, &mut |n| get(&base, n))?;
        let sample_model = train_model.detached();
        let mut p = Policy {
            source: dir,
            config,
            generation,
            tokenizer,
            tokenizer_json,
            tokenizer_config_json,
            device,
            dtype,
            base,
            full_vars,
            lora,
            train_model,
            sample_model,
            full_reference,
            stop_ids,
            pad_id,
            gradient_checkpointing: opts.gradient_checkpointing,
        };
        p.rebuild()?;
        tracing::info!(params = p.config.num_params(), trainable = p.num_trainable_params(), dtype = ?p.dtype, "policy ready");
        Ok(p)
    }

    /// Rebuilds both model views from the base weights and the adapters.
    fn rebuild(&mut self) -> Result<()> {
        let mut m = Qwen2::new(&self.config, &mut |n| get(&self.base, n))?;
        if let Some(l) = &self.lora {
            let scale = l.config.scale();
            for LoraModule { layer, name, a, b } in &l.modules {
                let p =
                    m.proj_mut(*layer, name).ok_or_else(|| PolicyError::Invalid(format!("no projection {name}")))?;
                p.lora = Some(LoraPair { a: a.as_tensor().clone(), b: b.as_tensor().clone(), scale });
            }
        }
        self.sample_model = m.detached();
        self.train_model = m;
        Ok(())
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn generation_config(&self) -> &GenerationConfig {
        &self.generation
    }
    pub fn tokenizer(&self) -> &ChatTokenizer {
        &self.tokenizer
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The folder it was loaded from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }
    /// Token ids that end a completion (`<|im_end|>`, `<|endoftext|>` and the configs' eos ids).
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }
    /// The LoRA adapters, if any.
    pub fn lora(&self) -> Option<&LoraAdapters> {
        self.lora.as_ref()
    }
    /// The base weights by checkpoint name (the `Var`s' tensors in full fine-tuning; plain tensors otherwise).
    pub fn base_weights(&self) -> &BTreeMap<String, Tensor> {
        &self.base
    }
    /// The differentiable model view (advanced use).
    pub fn model(&self) -> &Qwen2 {
        &self.train_model
    }

    /// The variables an optimizer should update: the adapters' `A`/`B` with LoRA, every weight in full
    /// fine-tuning, none when frozen. Base weights under LoRA are not variables, so they never get an update.
    pub fn trainable_vars(&self) -> Vec<Var> {
        let mut v: Vec<Var> = self.full_vars.iter().map(|(_, v)| v.clone()).collect();
        if let Some(l) = &self.lora {
            v.extend(l.vars());
        }
        v
    }

    /// Trainable variables with their names (checkpoint names, or PEFT names for adapters).
    pub fn named_trainable_vars(&self) -> Vec<(String, Var)> {
        let mut v = self.full_vars.clone();
        if let Some(l) = &self.lora {
            for m in &l.modules {
                v.push((format!("base_model.model.{}.lora_A.weight", m.path()), m.a.clone()));
                v.push((format!("base_model.model.{}.lora_B.weight", m.path()), m.b.clone()));
            }
        }
        v
    }

    pub fn num_trainable_params(&self) -> usize {
        self.trainable_vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Renders `messages` with the chat template, the generation prompt and `prefill` (the start of the
    /// assistant turn; `""` for none) and tokenizes them, dropping history from the left to fit
    /// `max_prompt_tokens` (0: no limit); system and task are kept.
    pub fn chat_prompt(&self, messages: &[Message], prefill: &str, max_prompt_tokens: usize) -> Result<ChatPrompt> {
        self.tokenizer.chat_prompt(messages, prefill, max_prompt_tokens)
    }

    /// [`Policy::chat_prompt`]'s ids, without a prefill.
    pub fn chat_prompt_ids(&self, messages: &[Message], max_prompt_tokens: usize) -> Result<Vec<u32>> {
        Ok(self.chat_prompt(messages, "", max_prompt_tokens)?.ids)
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= self.config.vocab_size) {
            return Err(PolicyError::Invalid(format!("token id {bad} >= vocab_size {}", self.config.vocab_size)));
        }
        Ok(())
    }

    /// Samples `opts.n` completions of every prompt, all rows in one left-padded batch with a KV cache (fused
    /// kernels, detached weights, adapters on). Each prompt is prefilled once and its cache shared by its `n`
    /// rows. Returns `prompts.len() * n` completions, prompt-major (completion `i * n + s` is sample `s` of prompt
    /// `i`). Rows that stop (a stop token, or the first call after `</think>` complete: [`FinishReason::Call`])
    /// leave the batch.
    pub fn sample(&self, prompts: &[Vec<u32>], opts: &SampleOptions) -> Result<Vec<Completion>> {
        Ok(self.sample_timed(prompts, opts, false)?.0)
    }

    /// [`Policy::sample`] with the time of its prefill and of its decoding. With `to_length` (benchmarks), rows
    /// ignore stop tokens and calls and every row gets `max_new_tokens` tokens.
    pub fn sample_timed(
        &self,
        prompts: &[Vec<u32>],
        opts: &SampleOptions,
        to_length: bool,
    ) -> Result<(Vec<Completion>, SampleTiming)> {
        let mut timing = SampleTiming::default();
        if opts.n == 0 {
            return Err(PolicyError::Invalid("n must be at least 1".into()));
        }
        let params = &opts.params;
        if params.top_p.is_nan() || params.top_p <= 0.0 || params.temperature.is_nan() {
            return Err(PolicyError::Invalid("top_p must be in (0, 1]".into()));
        }
        for p in prompts {
            if p.is_empty() {
                return Err(PolicyError::Invalid("an empty prompt".into()));
            }
            self.check_ids(p)?;
        }
        let rows: Vec<usize> = (0..prompts.len()).flat_map(|i| std::iter::repeat_n(i, opts.n)).collect();
        let mut outs: Vec<(Vec<u32>, Vec<f32>, FinishReason)> =
            rows.iter().map(|_| (Vec::new(), Vec::new(), FinishReason::Length)).collect();
        if rows.is_empty() || params.max_new_tokens == 0 {
            return Ok((self.finish(rows, outs)?, timing));
        }
        let start = std::time::Instant::now();
        let model = &self.sample_model;
        let pass = Pass::fused();
        let dev = &self.device;
        let p_max = prompts.iter().map(Vec::len).max().unwrap_or(0);
        // Prefill each prompt once, then copy its KV cache rows to its `n` samples.
        let mut valid: Vec<Vec<bool>> = Vec::with_capacity(prompts.len());
        let mut flat = Vec::with_capacity(prompts.len() * p_max);
        for p in prompts {
            let pad = p_max - p.len();
            flat.extend(std::iter::repeat_n(self.pad_id, pad));
            flat.extend_from_slice(p);
            valid.push((0..p_max).map(|j| j >= pad).collect());
        }
        let ids = Tensor::from_vec(flat, (prompts.len(), p_max), dev)?;
        let mask = attention_mask(&valid, p_max, self.dtype, dev)?;
        let pos = positions(&valid, p_max, dev)?;
        let mut cache = model.new_cache();
        let h = model.forward_hidden(&ids, &pos, mask.as_ref(), Some(&mut cache), pass)?;
        let prompt_logits = last_logits(model, &h.narrow(1, p_max - 1, 1)?)?;
        timing.prefill_secs = start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        if opts.n > 1 {
            let idx = Tensor::from_vec(rows.iter().map(|&i| i as u32).collect::<Vec<_>>(), rows.len(), dev)?;
            cache.select_rows(&idx)?;
        }
        let mut valid: Vec<Vec<bool>> = rows.iter().map(|&i| valid[i].clone()).collect();
        let mut logits: Vec<Vec<f32>> = rows.iter().map(|&i| prompt_logits[i].clone()).collect();
        let mut rngs: Vec<rand_chacha::ChaCha8Rng> = (0..rows.len())
            .map(|j| {
                let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
                r.set_stream(j as u64);
                r
            })
            .collect();
        let mut active: Vec<usize> = (0..rows.len()).collect();
        let mut next_pos: Vec<u32> = rows.iter().map(|&i| prompts[i].len() as u32).collect();
        for step in 0..params.max_new_tokens {
            let mut keep = Vec::with_capacity(active.len());
            let mut last = Vec::with_capacity(active.len());
            for (i, &row) in active.iter().enumerate() {
                let tok = choose(&logits[i], params, &mut rngs[row]);
                outs[row].0.push(tok as u32);
                outs[row].1.push(token_logprob(&logits[i], tok));
                if to_length {
                    keep.push(i);
                    last.push(tok as u32);
                } else if self.stop_ids.contains(&(tok as u32)) {
                    outs[row].2 = FinishReason::Stop;
                } else if self.closes_call(&outs[row].0)? {
                    outs[row].2 = FinishReason::Call;
                } else {
                    keep.push(i);
                    last.push(tok as u32);
                }
            }
            if keep.is_empty() || step + 1 == params.max_new_tokens {
                break;
            }
            if keep.len() < active.len() {
                let idx = Tensor::from_vec(keep.iter().map(|&i| i as u32).collect::<Vec<_>>(), keep.len(), dev)?;
                cache.select_rows(&idx)?;
                valid = keep.iter().map(|&i| std::mem::take(&mut valid[i])).collect();
                next_pos = keep.iter().map(|&i| next_pos[i]).collect();
                active = keep.iter().map(|&i| active[i]).collect();
                // Drop padding columns that no remaining row needs.
                let common = valid.iter().map(|v| v.iter().take_while(|x| !**x).count()).min().unwrap_or(0);
                if common > 0 {
                    cache.trim_front(common)?;
                    valid.iter_mut().for_each(|v| {
                        v.drain(..common);
                    });
                }
            }
            valid.iter_mut().for_each(|v| v.push(true));
            let n = active.len();
            let ids = Tensor::from_vec(last, (n, 1), dev)?;
            let pos = Tensor::from_vec(next_pos.clone(), (n, 1), dev)?;
            next_pos.iter_mut().for_each(|p| *p += 1);
            let mask = attention_mask(&valid, 1, self.dtype, dev)?;
            let h = model.forward_hidden(&ids, &pos, mask.as_ref(), Some(&mut cache), pass)?;
            logits = last_logits(model, &h)?;
        }
        timing.decode_secs = start.elapsed().as_secs_f64();
        Ok((self.finish(rows, outs)?, timing))
    }

    /// The logits (as f32) at positions `at` of one sequence `ids`, from one forward pass over it (fused kernels,
    /// adapters on): what a reference implementation's `model(ids).logits[0, at]` gives. For parity checks.
    pub fn logits_at(&self, ids: &[u32], at: &[usize]) -> Result<Vec<Vec<f32>>> {
        if ids.is_empty() {
            return Err(PolicyError::Invalid("an empty sequence".into()));
        }
        self.check_ids(ids)?;
        if let Some(&bad) = at.iter().find(|&&p| p >= ids.len()) {
            return Err(PolicyError::Invalid(format!("position {bad} is outside the {} tokens", ids.len())));
        }
        let (t, dev) = (ids.len(), &self.device);
        let valid = vec![vec![true; t]];
        let mask = attention_mask(&valid, t, self.dtype, dev)?;
        let pos = positions(&valid, t, dev)?;
        let x = Tensor::from_vec(ids.to_vec(), (1, t), dev)?;
        let h = self.sample_model.forward_hidden(&x, &pos, mask.as_ref(), None, Pass::fused())?;
        let idx = Tensor::from_vec(at.iter().map(|&p| p as u32).collect::<Vec<_>>(), at.len(), dev)?;
        let h = h.squeeze(0)?.index_select(&idx, 0)?;
        Ok(self.sample_model.logits(&h)?.to_dtype(DType::F32)?.to_vec2::<f32>()?)
    }

    /// Whether the completion `ids` has just closed its first call after `</think>` (decoding its last few tokens
    /// first, so a step costs a full decode only when `</function>` was just written).
    fn closes_call(&self, ids: &[u32]) -> Result<bool> {
        const TAIL: usize = 8;
        let tail = self.tokenizer.decode(&ids[ids.len().saturating_sub(TAIL)..], true)?;
        if !tail.contains("</function>") {
            return Ok(false);
        }
        Ok(srl_core::first_call_end(&self.tokenizer.decode(ids, true)?).is_some())
    }

    fn finish(&self, rows: Vec<usize>, outs: Vec<(Vec<u32>, Vec<f32>, FinishReason)>) -> Result<Vec<Completion>> {
        rows.into_iter()
            .zip(outs)
            .map(|(prompt_index, (ids, logprobs, finish))| {
                Ok(Completion { prompt_index, text: self.tokenizer.decode(&ids, true)?, ids, logprobs, finish })
            })
            .collect()
    }

    /// Renders `messages`, samples completions of it, and returns them (a convenience over
    /// [`Policy::chat_prompt_ids`] and [`Policy::sample`]).
    pub fn generate(
        &self,
        messages: &[Message],
        max_prompt_tokens: usize,
        opts: &SampleOptions,
    ) -> Result<Vec<Completion>> {
        let ids = self.chat_prompt_ids(messages, max_prompt_tokens)?;
        self.sample(&[ids], opts)
    }

    /// Differentiable per-token log-probs of each completion given its prompt, for a loss: `pairs[b] = (prompt
    /// ids, completion ids)`. Prompts are left-padded and completions right-padded into one batch; the result
    /// is `[B, max completion length]` with a mask. Adapters are on.
    pub fn logprobs(&self, pairs: &[(Vec<u32>, Vec<u32>)]) -> Result<TokenLogprobs> {
        self.logprobs_with(&self.train_model, Pass::train(), pairs)
    }

    /// The gradients of `loss`, a function of `lp` (from [`Policy::logprobs`]), with respect to
    /// [`Policy::trainable_vars`]: `loss.backward()`, or with gradient checkpointing the layer-by-layer
    /// backward of [`crate::model::Checkpoints::backward`]. Read them with `store.get(var.as_tensor())`.
    pub fn backward(&self, lp: &TokenLogprobs, loss: &Tensor) -> Result<GradStore> {
        match &lp.checkpoints {
            Some(c) => c.backward(loss, &self.trainable_vars()),
            None => Ok(loss.backward()?),
        }
    }

    /// Turns gradient checkpointing of [`Policy::logprobs`] on or off (see [`PolicyOptions`]).
    pub fn set_gradient_checkpointing(&mut self, on: bool) {
        self.gradient_checkpointing = on;
    }

    /// The same numbers as [`Policy::logprobs`] without a graph (fused kernels, detached weights): old
    /// log-probs recomputed after sampling, or evaluation.
    pub fn logprobs_detached(&self, pairs: &[(Vec<u32>, Vec<u32>)]) -> Result<TokenLogprobs> {
        self.logprobs_with(&self.sample_model, Pass::fused(), pairs)
    }

    /// Log-probs under the reference model, without a graph: the base weights without adapters under LoRA, the
    /// kept initial copy in full fine-tuning (an error when it was not kept), the model itself when frozen.
    pub fn reference_logprobs(&self, pairs: &[(Vec<u32>, Vec<u32>)]) -> Result<TokenLogprobs> {
        let pass = Pass { fused: true, adapters: false };
        if !self.full_vars.is_empty() {
            let r = self
                .full_reference
                .as_ref()
                .ok_or_else(|| PolicyError::NoReference("full fine-tuning without `keep_reference`".into()))?;
            return self.logprobs_with(r, pass, pairs);
        }
        self.logprobs_with(&self.sample_model, pass, pairs)
    }

    /// [`Policy::logprobs`] computed from the full `[B, T, vocab]` logits at once, as before chunking: the
    /// reference of the chunked computation's equality tests.
    #[doc(hidden)]
    pub fn logprobs_full_logits(&self, pairs: &[(Vec<u32>, Vec<u32>)]) -> Result<TokenLogprobs> {
        self.logprobs_impl(&self.train_model, Pass::train(), pairs, true)
    }

    fn logprobs_with(&self, model: &Qwen2, pass: Pass, pairs: &[(Vec<u32>, Vec<u32>)]) -> Result<TokenLogprobs> {
        self.logprobs_impl(model, pass, pairs, false)
    }

    fn logprobs_impl(
        &self,
        model: &Qwen2,
        pass: Pass,
        pairs: &[(Vec<u32>, Vec<u32>)],
        full_logits: bool,
    ) -> Result<TokenLogprobs> {
        let dev = &self.device;
        let b = pairs.len();
        let p_max = pairs.iter().map(|p| p.0.len()).max().unwrap_or(0);
        let c_max = pairs.iter().map(|p| p.1.len()).max().unwrap_or(0);
        let lengths: Vec<usize> = pairs.iter().map(|p| p.1.len()).collect();
        if b == 0 || c_max == 0 {
            let z = Tensor::zeros((b, 0), DType::F32, dev)?;
            return Ok(TokenLogprobs { logprobs: z.clone(), mask: z, lengths, checkpoints: None });
        }
        for (p, c) in pairs {
            if p.is_empty() {
                return Err(PolicyError::Invalid("an empty prompt".into()));
            }
            self.check_ids(p)?;
            self.check_ids(c)?;
        }
        // Row layout: [pad.. prompt | completion ..pad]; the completion starts at column p_max for every row.
        let t = p_max + c_max - 1; // the last completion token is never an input
        let mut flat = Vec::with_capacity(b * t);
        let mut valid = Vec::with_capacity(b);
        let mut targets = Vec::with_capacity(b * c_max);
        let mut mask = Vec::with_capacity(b * c_max);
        for (p, c) in pairs {
            let pad = p_max - p.len();
            let mut row: Vec<u32> = std::iter::repeat_n(self.pad_id, pad).chain(p.iter().copied()).collect();
            row.extend(c.iter().copied());
            row.resize(p_max + c_max, self.pad_id);
            flat.extend_from_slice(&row[..t]);
            valid.push((0..t).map(|j| j >= pad && j < p_max + c.len()).collect::<Vec<bool>>());
            for j in 0..c_max {
                targets.push(c.get(j).copied().unwrap_or(0));
                mask.push(if j < c.len() { 1f32 } else { 0f32 });
            }
        }
        let ids = Tensor::from_vec(flat, (b, t), dev)?;
        let attn = attention_mask(&valid, t, self.dtype, dev)?;
        let pos = positions(&valid, t, dev)?;
        let (h, checkpoints) = if self.gradient_checkpointing && !pass.fused && !full_logits {
            let (h, c) = model.forward_hidden_checkpointed(&ids, &pos, attn.as_ref())?;
            (h, Some(std::sync::Arc::new(c)))
        } else {
            (model.forward_hidden(&ids, &pos, attn.as_ref(), None, pass)?, None)
        };
        let h = h.narrow(1, p_max - 1, c_max)?;
        // Logits only at completion positions; with a frozen lm_head, in chunks of rows with the gradient of the
        // hidden states computed alongside (see `Qwen2::token_logprobs`), so the [B, T, vocab] logits, their
        // log-softmax and its gradient are never held at once.
        let lp = if full_logits || (!pass.fused && model.lm_head_trainable()) {
            let logits = model.logits(&h)?.to_dtype(DType::F32)?;
            let lsm = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let targets = Tensor::from_vec(targets, (b, c_max, 1), dev)?;
            lsm.gather(&targets, D::Minus1)?.squeeze(D::Minus1)?
        } else {
            let hidden = self.config.hidden_size;
            let h = h.reshape((b * c_max, hidden))?;
            model.token_logprobs(&h, &targets, !pass.fused, LOGPROB_CHUNK_ROWS)?.reshape((b, c_max))?
        };
        let mask = Tensor::from_vec(mask, (b, c_max), dev)?;
        Ok(TokenLogprobs { logprobs: (lp * &mask)?, mask, lengths, checkpoints })
    }

    /// Replaces the adapters with a PEFT adapter folder (`adapter_config.json`, `adapter_model.safetensors`).
    /// In full fine-tuning this is an error.
    pub fn load_adapter(&mut self, dir: &Path) -> Result<()> {
        if !self.full_vars.is_empty() {
            return Err(PolicyError::Invalid("cannot load a LoRA adapter into a fully fine-tuned policy".into()));
        }
        let cfg = &self.config;
        let dims = |n: &str| proj_dims(cfg, n);
        self.lora = Some(LoraAdapters::load(dir, cfg.num_hidden_layers, &dims, self.dtype, &self.device)?);
        self.rebuild()
    }

    /// Saves the adapters in PEFT's layout. An error without adapters.
    pub fn save_adapter(&self, dir: &Path) -> Result<()> {
        let l = self.lora.as_ref().ok_or_else(|| PolicyError::Invalid("the policy has no LoRA adapter".into()))?;
        let base = self.source.as_ref().map(|p| p.display().to_string());
        l.save(dir, base.as_deref())
    }

    /// Saves the current weights (without adapters) as a Hugging Face folder in the run's dtype: the trained
    /// model in full fine-tuning, the base model under LoRA.
    pub fn save_full(&self, dir: &Path) -> Result<()> {
        self.save_weights(dir, self.base.clone())
    }

    /// Saves the weights with the adapters merged in (`W + scale * B A`) as a Hugging Face folder; without
    /// adapters the same as [`Policy::save_full`].
    pub fn save_merged(&self, dir: &Path) -> Result<()> {
        self.save_weights(dir, self.merged_weights()?)
    }

    /// The base weights with the adapters merged in.
    pub fn merged_weights(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut w: BTreeMap<String, Tensor> = self.base.iter().map(|(k, v)| (k.clone(), v.detach())).collect();
        if let Some(l) = &self.lora {
            let scale = l.config.scale();
            for m in &l.modules {
                let key = format!("{}.weight", m.path());
                let base = w.get(&key).ok_or_else(|| PolicyError::Invalid(format!("no weight {key}")))?;
                let (a, b) =
                    (m.a.as_detached_tensor().to_dtype(DType::F32)?, m.b.as_detached_tensor().to_dtype(DType::F32)?);
                let delta = (b.matmul(&a)? * scale)?;
                let merged = (base.to_dtype(DType::F32)? + delta)?.to_dtype(self.dtype)?;
                w.insert(key, merged);
            }
        }
        Ok(w)
    }

    fn save_weights(&self, dir: &Path, weights: BTreeMap<String, Tensor>) -> Result<()> {
        let mut config = self.config.clone();
        config.dtype = Some(files::torch_dtype_name(self.dtype).into());
        let parts = ModelParts {
            config,
            generation: self.generation.clone(),
            tokenizer_json: self.tokenizer_json.clone(),
            tokenizer_config_json: self.tokenizer_config_json.clone(),
            weights,
        };
        write_folder(dir, &parts, self.dtype)
    }
}

fn get(map: &BTreeMap<String, Tensor>, name: &str) -> Result<Tensor> {
    map.get(name)
        .cloned()
        .ok_or_else(|| PolicyError::MissingTensor { path: PathBuf::from("weights"), name: name.into() })
}

/// `(in, out)` of a projection.
fn proj_dims(cfg: &Config, name: &str) -> (usize, usize) {
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    let q = cfg.num_attention_heads * cfg.head_dim();
    let kv = cfg.num_kv_heads() * cfg.head_dim();
    match name {
        "q_proj" => (h, q),
        "k_proj" | "v_proj" => (h, kv),
        "o_proj" => (q, h),
        "down_proj" => (i, h),
        _ => (h, i),
    }
}

/// Rows of the lm_head computed at once by the log-probs (64 x 151,936 f32 logits: 39 MB).
const LOGPROB_CHUNK_ROWS: usize = 64;

/// `[B, 1, H]` hidden states to per-row f32 logits.
fn last_logits(model: &Qwen2, h: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(model.logits(h)?.squeeze(1)?.to_dtype(DType::F32)?.to_vec2::<f32>()?)
}
