//! The Qwen2 architecture, written for training: one model, two paths over the same weights.
//!
//! * The differentiable path ([`Pass::train`]) uses only tensor ops that have a backward (`rms_norm_slow`-style
//!   norm, a plain softmax, RoPE as `x*cos + rotate_half(x)*sin`), so every weight gets its gradient, and returns
//!   the hidden states of all positions.
//! * The fused path ([`Pass::fused`]) uses candle's fused `rms_norm`, `softmax_last_dim` and `rope` kernels,
//!   which have no backward, and appends to a [`KvCache`] owned by the caller. Use it with detached weights
//!   ([`Qwen2::detached`]) for sampling: no graph is recorded and optimizer updates are seen in place.
//!
//! Positions are given per row, so a left-padded batch computes exactly what each row computes alone (the
//! position of a token is its index among the row's real tokens, as Hugging Face's `generate` does).
//! Weight names mirror the Hugging Face checkpoint (`model.layers.N.self_attn.q_proj.weight`, ...).

use candle_core::{D, DType, Device, Tensor};

use crate::config::Config;
use crate::error::Result;

/// Which kernels a forward uses, and whether LoRA adapters are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass {
    /// Fused kernels without backward (sampling) instead of differentiable ops (training).
    pub fused: bool,
    /// Apply the LoRA adapters; `false` gives the base model (the KL reference).
    pub adapters: bool,
}

impl Pass {
    /// Differentiable ops, adapters on.
    pub fn train() -> Self {
        Pass { fused: false, adapters: true }
    }
    /// Fused ops, adapters on.
    pub fn fused() -> Self {
        Pass { fused: true, adapters: true }
    }
}

/// A LoRA pair on one projection: `y = x W^T + b + scale * (x A^T) B^T`.
#[derive(Clone, Debug)]
pub struct LoraPair {
    /// `lora_A`: `[r, in]`.
    pub a: Tensor,
    /// `lora_B`: `[out, r]`.
    pub b: Tensor,
    pub scale: f64,
}

/// A linear projection with an optional bias and an optional LoRA pair.
#[derive(Clone, Debug)]
pub struct Proj {
    /// `[out, in]`, as in the checkpoint.
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub lora: Option<LoraPair>,
}

/// `x W^T + b` over the last dim of `x`. `x` is flattened to 2-D so that `W` is never broadcast over the batch:
/// candle's matmul backward computes the right operand's gradient even for frozen weights, and for a broadcast
/// weight that gradient is batch-size times the weight's size. On the CPU a frozen `W` in a graph takes
/// [`crate::cpu_linear`], whose backward skips that gradient altogether.
fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let mut dims = x.dims().to_vec();
    let in_dim = dims.last().copied().unwrap_or(0);
    let x2 = x.reshape(((), in_dim))?;
    let y = if crate::cpu_bf16::applies(&x2, w) {
        crate::cpu_bf16::matmul_t(&x2, w)?.to_dtype(DType::BF16)?
    } else if crate::cpu_linear::applies(&x2, w) {
        crate::cpu_linear::matmul_t(&x2, w)?
    } else {
        x2.matmul(&w.t()?)?
    };
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    if let Some(last) = dims.last_mut() {
        *last = w.dim(0)?;
    }
    Ok(y.reshape(dims)?)
}

impl Proj {
    fn forward(&self, x: &Tensor, pass: Pass) -> Result<Tensor> {
        let y = linear(x, &self.weight, self.bias.as_ref())?;
        match (&self.lora, pass.adapters) {
            (Some(l), true) => {
                let d = linear(&linear(x, &l.a, None)?, &l.b, None)?;
                Ok((y + (d * l.scale)?)?)
            }
            _ => Ok(y),
        }
    }

    fn detached(&self) -> Proj {
        Proj {
            weight: self.weight.detach(),
            bias: self.bias.as_ref().map(Tensor::detach),
            lora: self.lora.as_ref().map(|l| LoraPair { a: l.a.detach(), b: l.b.detach(), scale: l.scale }),
        }
    }
}

#[derive(Clone, Debug)]
struct Layer {
    q_proj: Proj,
    k_proj: Proj,
    v_proj: Proj,
    o_proj: Proj,
    gate_proj: Proj,
    up_proj: Proj,
    down_proj: Proj,
    input_layernorm: Tensor,
    post_attention_layernorm: Tensor,
}

/// The names of the seven projections of a layer, in Hugging Face's spelling, with their module path.
pub const PROJ_NAMES: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// The module path of projection `name` in layer `i`, e.g. `model.layers.3.self_attn.q_proj`.
pub fn proj_path(i: usize, name: &str) -> String {
    let group = if matches!(name, "gate_proj" | "up_proj" | "down_proj") { "mlp" } else { "self_attn" };
    format!("model.layers.{i}.{group}.{name}")
}

/// Every tensor a checkpoint of `cfg` holds, with its shape, in a stable order. `lm_head.weight` is listed only
/// when the embeddings are not tied.
pub fn weight_shapes(cfg: &Config) -> Vec<(String, Vec<usize>)> {
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let q = cfg.num_attention_heads * cfg.head_dim();
    let kv = cfg.num_kv_heads() * cfg.head_dim();
    let mut out = vec![("model.embed_tokens.weight".to_string(), vec![v, h])];
    for l in 0..cfg.num_hidden_layers {
        let p = |n: &str| proj_path(l, n);
        out.push((format!("{}.weight", p("q_proj")), vec![q, h]));
        out.push((format!("{}.bias", p("q_proj")), vec![q]));
        out.push((format!("{}.weight", p("k_proj")), vec![kv, h]));
        out.push((format!("{}.bias", p("k_proj")), vec![kv]));
        out.push((format!("{}.weight", p("v_proj")), vec![kv, h]));
        out.push((format!("{}.bias", p("v_proj")), vec![kv]));
        out.push((format!("{}.weight", p("o_proj")), vec![h, q]));
        out.push((format!("{}.weight", p("gate_proj")), vec![i, h]));
        out.push((format!("{}.weight", p("up_proj")), vec![i, h]));
        out.push((format!("{}.weight", p("down_proj")), vec![h, i]));
        out.push((format!("model.layers.{l}.input_layernorm.weight"), vec![h]));
        out.push((format!("model.layers.{l}.post_attention_layernorm.weight"), vec![h]));
    }
    out.push(("model.norm.weight".to_string(), vec![h]));
    if !cfg.tie_word_embeddings {
        out.push(("lm_head.weight".to_string(), vec![v, h]));
    }
    out
}

/// The key/value cache of the fused path: per layer `(k, v)` of shape `[B, kv_heads, T, head_dim]`, after RoPE.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        KvCache { layers: vec![None; num_layers] }
    }

    /// Cached positions (keys) per row.
    pub fn seq_len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map(|(k, _)| k.dims()[2]).unwrap_or(0)
    }

    /// Keeps only the rows `rows` (a `u32` index tensor), in that order.
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        for l in self.layers.iter_mut().flatten() {
            l.0 = l.0.index_select(rows, 0)?;
            l.1 = l.1.index_select(rows, 0)?;
        }
        Ok(())
    }
}

/// A Qwen2 decoder over tensors named as in the checkpoint.
#[derive(Clone, Debug)]
pub struct Qwen2 {
    cfg: Config,
    embed_tokens: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    /// The same tensor as `embed_tokens` when the embeddings are tied.
    lm_head: Tensor,
    inv_freq: Tensor,
}

impl Qwen2 {
    /// Builds the model from `get(name)`, which returns the tensor of each name of [`weight_shapes`] (shapes are
    /// the caller's to check). With tied embeddings, `lm_head` is `model.embed_tokens.weight`.
    pub fn new(cfg: &Config, get: &mut dyn FnMut(&str) -> Result<Tensor>) -> Result<Self> {
        let embed_tokens = get("model.embed_tokens.weight")?;
        let device = embed_tokens.device().clone();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let mut proj = |name: &str, bias: bool| -> Result<Proj> {
                let p = proj_path(l, name);
                let weight = get(&format!("{p}.weight"))?;
                let bias = if bias { Some(get(&format!("{p}.bias"))?) } else { None };
                Ok(Proj { weight, bias, lora: None })
            };
            layers.push(Layer {
                q_proj: proj("q_proj", true)?,
                k_proj: proj("k_proj", true)?,
                v_proj: proj("v_proj", true)?,
                o_proj: proj("o_proj", false)?,
                gate_proj: proj("gate_proj", false)?,
                up_proj: proj("up_proj", false)?,
                down_proj: proj("down_proj", false)?,
                input_layernorm: get(&format!("model.layers.{l}.input_layernorm.weight"))?,
                post_attention_layernorm: get(&format!("model.layers.{l}.post_attention_layernorm.weight"))?,
            });
        }
        let norm = get("model.norm.weight")?;
        let lm_head = if cfg.tie_word_embeddings { embed_tokens.clone() } else { get("lm_head.weight")? };
        let dim = cfg.head_dim();
        let inv_freq: Vec<f32> =
            (0..dim).step_by(2).map(|i| 1f32 / cfg.rope_theta().powf(i as f64 / dim as f64) as f32).collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, 1, dim / 2), &device)?;
        Ok(Qwen2 { cfg: cfg.clone(), embed_tokens, layers, norm, lm_head, inv_freq })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn dtype(&self) -> DType {
        self.embed_tokens.dtype()
    }

    pub fn device(&self) -> &Device {
        self.embed_tokens.device()
    }

    /// The same model over detached weights: no op records a graph; the storage is shared, so in-place
    /// optimizer updates of the original weights are visible here.
    pub fn detached(&self) -> Qwen2 {
        Qwen2 {
            cfg: self.cfg.clone(),
            embed_tokens: self.embed_tokens.detach(),
            layers: self
                .layers
                .iter()
                .map(|l| Layer {
                    q_proj: l.q_proj.detached(),
                    k_proj: l.k_proj.detached(),
                    v_proj: l.v_proj.detached(),
                    o_proj: l.o_proj.detached(),
                    gate_proj: l.gate_proj.detached(),
                    up_proj: l.up_proj.detached(),
                    down_proj: l.down_proj.detached(),
                    input_layernorm: l.input_layernorm.detach(),
                    post_attention_layernorm: l.post_attention_layernorm.detach(),
                })
                .collect(),
            norm: self.norm.detach(),
            lm_head: self.lm_head.detach(),
            inv_freq: self.inv_freq.clone(),
        }
    }

    /// The projection at `path` (as [`proj_path`] spells it), if any.
    pub fn proj_mut(&mut self, layer: usize, name: &str) -> Option<&mut Proj> {
        let l = self.layers.get_mut(layer)?;
        Some(match name {
            "q_proj" => &mut l.q_proj,
            "k_proj" => &mut l.k_proj,
            "v_proj" => &mut l.v_proj,
            "o_proj" => &mut l.o_proj,
            "gate_proj" => &mut l.gate_proj,
            "up_proj" => &mut l.up_proj,
            "down_proj" => &mut l.down_proj,
            _ => return None,
        })
    }

    /// A new KV cache for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len())
    }

    fn rms_norm(&self, x: &Tensor, w: &Tensor, pass: Pass) -> Result<Tensor> {
        let eps = self.cfg.rms_norm_eps as f32;
        Ok(if pass.fused {
            candle_nn::ops::rms_norm(&x.contiguous()?, w, eps)?
        } else {
            candle_nn::ops::rms_norm_slow(x, w, eps)?
        })
    }

    /// Final hidden states `[B, T, hidden]` (after the last norm).
    ///
    /// * `ids`: `[B, T]` u32 token ids; `positions`: `[B, T]` u32 RoPE positions.
    /// * `mask`: additive attention mask `[B, 1, T, T_cache + T]` in the model's dtype (see [`attention_mask`]),
    ///   or `None` for a single query per row with every key visible. Causality is the mask's job.
    /// * `cache`: appended to (fused path only, by convention; the differentiable path works with it too).
    pub fn forward_hidden(
        &self,
        ids: &Tensor,
        positions: &Tensor,
        mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
        pass: Pass,
    ) -> Result<Tensor> {
        let mut xs = self.embed(ids)?;
        let (cos, sin) = self.rope_tables(positions)?;
        // The CPU attention kernel reads the mask once for all layers.
        let host_mask = host_mask(mask)?;
        let mask = Mask { tensor: mask, host: host_mask.as_ref() };
        for (i, layer) in self.layers.iter().enumerate() {
            let cache_slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            xs = self.layer_forward(layer, &xs, (&cos, &sin), mask, cache_slot, pass)?;
        }
        self.rms_norm(&xs, &self.norm, pass)
    }

    /// [`Qwen2::forward_hidden`] on the differentiable path with gradient checkpointing: the layers run without
    /// a graph and only each layer's input is kept; the result's graph starts at the last layer's output. Its
    /// backward is [`Checkpoints::backward`], which recomputes one layer at a time with its graph. Activation
    /// memory is one layer's graph plus `[B, T, hidden]` per layer, instead of every layer's graph.
    pub fn forward_hidden_checkpointed(
        &self,
        ids: &Tensor,
        positions: &Tensor,
        mask: Option<&Tensor>,
    ) -> Result<(Tensor, Checkpoints)> {
        let pass = Pass::train();
        let detached = self.detached();
        let (cos, sin) = self.rope_tables(positions)?;
        let host = host_mask(mask)?;
        let m = Mask { tensor: mask, host: host.as_ref() };
        let mut xs = detached.embed(ids)?;
        let mut inputs = Vec::with_capacity(self.layers.len());
        for layer in &detached.layers {
            inputs.push(xs.clone());
            xs = detached.layer_forward(layer, &xs, (&cos, &sin), m, None, pass)?;
        }
        let last = candle_core::Var::from_tensor(&xs)?;
        let h = self.rms_norm(last.as_tensor(), &self.norm, pass)?;
        let ckpt =
            Checkpoints { model: self.clone(), ids: ids.clone(), cos, sin, mask: mask.cloned(), host, inputs, last };
        Ok((h, ckpt))
    }

    /// The token embeddings of `ids` `[B, T]`: `[B, T, hidden]`.
    fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        Ok(self.embed_tokens.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, self.cfg.hidden_size))?)
    }

    /// RoPE's `(cos, sin)` tables `[B, T, head_dim / 2]` of `positions` `[B, T]`, in the model's dtype.
    fn rope_tables(&self, positions: &Tensor) -> Result<(Tensor, Tensor)> {
        let dtype = self.dtype();
        let freqs = positions.to_dtype(DType::F32)?.unsqueeze(2)?.broadcast_mul(&self.inv_freq)?;
        Ok((freqs.cos()?.to_dtype(dtype)?.contiguous()?, freqs.sin()?.to_dtype(dtype)?.contiguous()?))
    }

    /// One decoder layer: attention and MLP, each with its norm and residual.
    fn layer_forward(
        &self,
        layer: &Layer,
        xs: &Tensor,
        rope: (&Tensor, &Tensor),
        mask: Mask,
        cache_slot: Option<&mut Option<(Tensor, Tensor)>>,
        pass: Pass,
    ) -> Result<Tensor> {
        let h = self.rms_norm(xs, &layer.input_layernorm, pass)?;
        let h = self.attention(layer, &h, rope, mask, cache_slot, pass)?;
        let xs = (h + xs)?;
        let h = self.rms_norm(&xs, &layer.post_attention_layernorm, pass)?;
        let gate = layer.gate_proj.forward(&h, pass)?.silu()?;
        let up = layer.up_proj.forward(&h, pass)?;
        let h = layer.down_proj.forward(&(gate * up)?, pass)?;
        Ok((h + xs)?)
    }

    /// Logits `[.., vocab]` of hidden states `[.., hidden]` (in the model's dtype).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        linear(hidden, &self.lm_head, None)
    }

    /// Whether the lm_head weight is in a graph (a `Var`, as in full fine-tuning): then
    /// [`Qwen2::token_logprobs`] cannot give its gradient and callers take the full logits instead.
    pub fn lm_head_trainable(&self) -> bool {
        self.lm_head.track_op()
    }

    /// `log_softmax(h W^T)[n, targets[n]]` as f32 `[N]`, for hidden states `h` `[N, hidden]` and the lm_head
    /// `W`, computing the logits `chunk_rows` rows at a time: the `[N, vocab]` logits never exist at once (64 rows
    /// of a 151,936-token vocabulary are 39 MB in f32). Each chunk is [`Qwen2::logits`] cast to f32 and candle's
    /// `log_softmax`, as the full computation does.
    ///
    /// With `grad`, the result is differentiable with respect to `h` (never to `W`: see
    /// [`Qwen2::lm_head_trainable`]). The exact gradient `G[n] = W[t_n] - softmax(h_n W^T) W` is computed here,
    /// chunk by chunk, and the result is `lp + sum((h - h.detach()) * G, 1)`: its value is `lp` exactly (the
    /// second term is 0), its gradient is `G` times the incoming gradient, and the graph holds `[N, hidden]`
    /// tensors only. Without `grad` no graph is recorded.
    pub fn token_logprobs(&self, h: &Tensor, targets: &[u32], grad: bool, chunk_rows: usize) -> Result<Tensor> {
        let (n, _) = h.dims2()?;
        let hd = h.detach();
        let w = self.lm_head.detach();
        let dev = h.device();
        let chunk_rows = chunk_rows.max(1);
        let mut lps = Vec::with_capacity(n.div_ceil(chunk_rows));
        let mut grads = Vec::new();
        for start in (0..n).step_by(chunk_rows) {
            let len = chunk_rows.min(n - start);
            let logits = linear(&hd.narrow(0, start, len)?, &w, None)?.to_dtype(DType::F32)?;
            let lsm = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            drop(logits);
            let t = Tensor::from_slice(&targets[start..start + len], len, dev)?;
            lps.push(lsm.gather(&t.unsqueeze(1)?, 1)?.squeeze(1)?);
            if grad {
                let p = lsm.exp()?.to_dtype(w.dtype())?;
                drop(lsm);
                let pw = p.matmul(&w)?;
                grads.push((w.index_select(&t, 0)? - pw)?);
            }
        }
        let lp = Tensor::cat(&lps, 0)?;
        if !grad {
            return Ok(lp);
        }
        let g = Tensor::cat(&grads, 0)?.to_dtype(h.dtype())?;
        let surrogate = ((h - &hd)? * g)?.sum(1)?.to_dtype(DType::F32)?;
        Ok((lp + surrogate)?)
    }

    /// `rope`: the `(cos, sin)` tables of the rows' positions.
    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        rope: (&Tensor, &Tensor),
        mask: Mask,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        pass: Pass,
    ) -> Result<Tensor> {
        let (cos, sin) = rope;
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (self.cfg.num_attention_heads, self.cfg.num_kv_heads(), self.cfg.head_dim());
        let q = layer.q_proj.forward(x, pass)?.reshape((b, t, nh, hd))?.transpose(1, 2)?.contiguous()?;
        let k = layer.k_proj.forward(x, pass)?.reshape((b, t, nkv, hd))?.transpose(1, 2)?.contiguous()?;
        let v = layer.v_proj.forward(x, pass)?.reshape((b, t, nkv, hd))?.transpose(1, 2)?;
        let (q, k) = if pass.fused {
            (candle_nn::rotary_emb::rope(&q, cos, sin)?, candle_nn::rotary_emb::rope(&k, cos, sin)?)
        } else {
            (rope_differentiable(&q, cos, sin)?, rope_differentiable(&k, cos, sin)?)
        };
        let (k, v) = match cache {
            Some(slot) => {
                let (k, v) = match slot.take() {
                    Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                    None => (k, v.contiguous()?),
                };
                *slot = Some((k.clone(), v.clone()));
                (k, v)
            }
            None => (k, v),
        };
        let scale = 1f64 / (hd as f64).sqrt();
        // On the CPU both paths take the blocked kernel (with its own backward when in a graph).
        if crate::cpu_attention::applies(&q, &k, &v) && (mask.tensor.is_none() || mask.host.is_some()) {
            let out = crate::cpu_attention::attention(&q, &k, &v, mask.host, scale)?;
            return layer.o_proj.forward(&out.transpose(1, 2)?.reshape((b, t, nh * hd))?, pass);
        }
        let k = candle_transformers::utils::repeat_kv(k, nh / nkv)?.contiguous()?;
        let v = candle_transformers::utils::repeat_kv(v, nh / nkv)?.contiguous()?;
        let scores = (q.matmul(&k.transpose(2, 3)?)? * scale)?;
        let scores = match mask.tensor {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs = if pass.fused {
            candle_nn::ops::softmax_last_dim(&scores)?
        } else {
            let s = scores.to_dtype(DType::F32)?;
            candle_nn::ops::softmax(&s, D::Minus1)?.to_dtype(scores.dtype())?
        };
        let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, nh * hd))?;
        layer.o_proj.forward(&out, pass)
    }
}

/// A forward pass's attention mask: the tensor, and its host copy when the CPU attention kernel reads it.
#[derive(Clone, Copy)]
struct Mask<'a> {
    tensor: Option<&'a Tensor>,
    host: Option<&'a crate::cpu_attention::HostMask>,
}

/// The host copy of a CPU mask for the attention kernel, read once per forward pass.
fn host_mask(mask: Option<&Tensor>) -> Result<Option<crate::cpu_attention::HostMask>> {
    match mask {
        Some(m) if m.device().is_cpu() => Ok(Some(crate::cpu_attention::HostMask::new(m)?)),
        _ => Ok(None),
    }
}

/// What [`Qwen2::forward_hidden_checkpointed`] keeps for the backward: the model (sharing its weights), the
/// forward's inputs, and each layer's input without a graph.
pub struct Checkpoints {
    model: Qwen2,
    ids: Tensor,
    cos: Tensor,
    sin: Tensor,
    mask: Option<Tensor>,
    host: Option<crate::cpu_attention::HostMask>,
    inputs: Vec<Tensor>,
    /// The last layer's output: the variable where the returned hidden states' graph starts.
    last: candle_core::Var,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints").field("layers", &self.inputs.len()).field("shape", self.last.shape()).finish()
    }
}

impl Checkpoints {
    /// The gradients of `loss` with respect to `vars`, in the store that `loss.backward()` gives: that backward
    /// runs down to the last layer's output, then each layer, last first, is recomputed from its kept input with
    /// its graph and back-propagated alone (`sum(out * grad_out)`'s backward), its gradients of `vars` added to
    /// the store and its input's gradient passed on. The same gradients as one backward over the whole graph.
    pub fn backward(&self, loss: &Tensor, vars: &[candle_core::Var]) -> Result<candle_core::backprop::GradStore> {
        let mut store = loss.backward()?;
        let Some(mut grad) = store.remove(self.last.as_tensor()) else {
            return Ok(store);
        };
        let mask = Mask { tensor: self.mask.as_ref(), host: self.host.as_ref() };
        for (layer, input) in self.model.layers.iter().zip(&self.inputs).rev() {
            let x = candle_core::Var::from_tensor(input)?;
            let out =
                self.model.layer_forward(layer, x.as_tensor(), (&self.cos, &self.sin), mask, None, Pass::train())?;
            let mut layer_grads = (out * &grad)?.sum_all()?.backward()?;
            for v in vars {
                if let Some(g) = layer_grads.remove(v.as_tensor()) {
                    add_grad(&mut store, v.as_tensor(), g)?;
                }
            }
            grad = match layer_grads.remove(x.as_tensor()) {
                Some(g) => g,
                None => return Ok(store),
            };
        }
        // A trainable embedding (full fine-tuning): its gradient from the first layer's input gradient.
        if self.model.embed_tokens.track_op() {
            let mut g = (self.model.embed(&self.ids)? * &grad)?.sum_all()?.backward()?;
            if let Some(e) = g.remove(&self.model.embed_tokens) {
                add_grad(&mut store, &self.model.embed_tokens, e)?;
            }
        }
        Ok(store)
    }
}

/// Adds `g` to `t`'s gradient in `store`.
fn add_grad(store: &mut candle_core::backprop::GradStore, t: &Tensor, g: Tensor) -> Result<()> {
    let sum = match store.remove(t) {
        Some(prev) => (prev + g)?,
        None => g,
    };
    store.insert(t, sum);
    Ok(())
}

/// RoPE (rotate-half form) with ops that have a backward. `x`: `[B, H, T, D]`; `cos`, `sin`: `[B, T, D/2]`.
fn rope_differentiable(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let cos = Tensor::cat(&[cos, cos], D::Minus1)?.unsqueeze(1)?;
    let sin = Tensor::cat(&[sin, sin], D::Minus1)?.unsqueeze(1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
}

/// The additive attention mask `[B, 1, T_q, T_k]` for queries that are the last `t_q` of `T_k` keys.
///
/// `key_valid[b][j]` says whether key `j` of row `b` is a real token (false for padding). Query `i` sees key `j`
/// when `j` is not after it and is real; it always sees itself, so no softmax row is empty (a padding query
/// then attends only to itself, and its output is never used). Returns `None` when nothing needs masking
/// (one query per row, every key real).
pub fn attention_mask(key_valid: &[Vec<bool>], t_q: usize, dtype: DType, device: &Device) -> Result<Option<Tensor>> {
    let b = key_valid.len();
    let t_k = key_valid.first().map(Vec::len).unwrap_or(0);
    if t_q == 1 && key_valid.iter().all(|r| r.iter().all(|&v| v)) {
        return Ok(None);
    }
    let offset = t_k - t_q;
    let mut m = Vec::with_capacity(b * t_q * t_k);
    for row in key_valid {
        for i in 0..t_q {
            let qi = offset + i;
            for (j, &valid) in row.iter().enumerate() {
                let seen = j == qi || (j < qi && valid);
                m.push(if seen { 0f32 } else { f32::NEG_INFINITY });
            }
        }
    }
    Ok(Some(Tensor::from_vec(m, (b, 1, t_q, t_k), device)?.to_dtype(dtype)?))
}

/// RoPE positions for rows given by `key_valid` (`[B][T]`): each real token's index among its row's real tokens
/// (padding gets 0). Returns the `[B, T]` u32 tensor of the last `t_q` columns.
pub fn positions(key_valid: &[Vec<bool>], t_q: usize, device: &Device) -> Result<Tensor> {
    let b = key_valid.len();
    let t_k = key_valid.first().map(Vec::len).unwrap_or(0);
    let mut out = Vec::with_capacity(b * t_q);
    for row in key_valid {
        let mut n = 0u32;
        let mut all = Vec::with_capacity(t_k);
        for &v in row {
            all.push(if v { n } else { 0 });
            if v {
                n += 1;
            }
        }
        out.extend_from_slice(&all[t_k - t_q..]);
    }
    Ok(Tensor::from_vec(out, (b, t_q), device)?)
}

impl KvCache {
    /// Drops the first `n` cached positions of every row (left padding no row needs any more).
    pub fn trim_front(&mut self, n: usize) -> Result<()> {
        for l in self.layers.iter_mut().flatten() {
            let t = l.0.dims()[2];
            l.0 = l.0.narrow(2, n, t - n)?;
            l.1 = l.1.narrow(2, n, t - n)?;
        }
        Ok(())
    }
}
