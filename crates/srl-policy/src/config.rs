//! `config.json` and `generation_config.json` of a Qwen2-family Hugging Face folder.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result, read_json};

/// The model config, as `config.json` writes it. Unknown keys are kept in `extra` and written back on save;
/// `"sliding_window": null` is accepted (Qwen2.5 checkpoints ship it). Sliding-window attention itself is not
/// implemented: every Qwen2.5 checkpoint sets `use_sliding_window: false`, and loading one that sets it to
/// true is an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); defaults to `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// RoPE base as transformers 4 writes it; transformers 5 writes it in `rope_parameters` (see
    /// [`Config::rope_theta`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// transformers 5's `{rope_theta, rope_type}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<serde_json::Value>,
    /// A RoPE scaling scheme (`yarn`, `linear`, `dynamic`, ...): only none or `default` is implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub sliding_window: Option<usize>,
    #[serde(default)]
    pub use_sliding_window: bool,
    #[serde(default)]
    pub max_window_layers: Option<usize>,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// The checkpoint's dtype, e.g. `"bfloat16"` (informative: weights are cast to the run's dtype on load).
    /// Written as transformers 5 does (`dtype`); transformers 4's `torch_dtype` is read too.
    #[serde(default, rename = "dtype", alias = "torch_dtype", skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    /// Every other key of `config.json`, kept as is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One token id or a list of them (`eos_token_id` is either in Hugging Face files).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(x) => vec![*x],
            TokenIds::Many(v) => v.clone(),
        }
    }
}

fn default_max_pos() -> usize {
    32768
}
/// transformers' default RoPE base when a config names none.
const DEFAULT_ROPE_THETA: f64 = 10000.0;
fn default_eps() -> f64 {
    1e-6
}
fn default_act() -> String {
    "silu".into()
}

impl Config {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let cfg: Config = read_json(path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks the numbers fit together; `path` names the file in errors.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, msg: String| Err(PolicyError::bad_config(path, field, msg));
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
        ] {
            if v == 0 {
                return bad(field, "must be positive".into());
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(
                "num_attention_heads",
                format!("{} does not divide hidden_size {}", self.num_attention_heads, self.hidden_size),
            );
        }
        let kv = self.num_kv_heads();
        if kv == 0 || !self.num_attention_heads.is_multiple_of(kv) {
            return bad(
                "num_key_value_heads",
                format!("{kv} does not divide num_attention_heads {}", self.num_attention_heads),
            );
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad("hidden_size", format!("head dim {} must be even for RoPE", self.head_dim()));
        }
        if self.hidden_act != "silu" {
            return bad("hidden_act", format!("`{}` is not supported (only silu)", self.hidden_act));
        }
        if self.use_sliding_window {
            return bad("use_sliding_window", "sliding-window attention is not implemented".into());
        }
        if self.rms_norm_eps.is_nan() || self.rms_norm_eps <= 0.0 {
            return bad("rms_norm_eps", "must be positive".into());
        }
        let nested = self.rope_parameters.as_ref().and_then(|p| p.get("rope_theta")).map(|v| v.as_f64());
        match (self.rope_theta, nested) {
            (_, Some(None)) => return bad("rope_parameters.rope_theta", "not a number".into()),
            (Some(a), Some(Some(b))) if a != b => {
                return bad("rope_theta", format!("{a} disagrees with rope_parameters.rope_theta {b}"));
            }
            _ => {}
        }
        let theta = self.rope_theta();
        if theta.is_nan() || theta <= 0.0 {
            return bad("rope_theta", format!("must be positive (got {theta})"));
        }
        for (field, v) in [("rope_parameters", &self.rope_parameters), ("rope_scaling", &self.rope_scaling)] {
            let Some(v) = v.as_ref().filter(|v| !v.is_null()) else { continue };
            let kind = v.get("rope_type").or_else(|| v.get("type")).and_then(|t| t.as_str());
            match kind {
                None | Some("default") => {}
                Some(k) => {
                    return bad(
                        field,
                        format!("RoPE type `{k}` is not implemented (only the default rotary embedding)"),
                    );
                }
            }
        }
        if let Some(t) = &self.model_type
            && t != "qwen2"
        {
            tracing::warn!(model_type = %t, "config.json: not a qwen2 model type; loading it as Qwen2");
        }
        Ok(())
    }

    /// The config as transformers 5 writes it: the RoPE base in `rope_parameters` (`{rope_theta, rope_type}`) and
    /// `dtype` (the field's serialized name). The top-level `rope_theta` is kept beside it (equal, as validation
    /// requires): transformers 4 and candle-transformers' Qwen2 read only that key, and without it transformers 4
    /// takes 10000 silently (the very bug transformers 5 folders caused here) and candle refuses the file. A config
    /// that validated keeps its meaning.
    pub fn to_transformers5(&self) -> Config {
        let mut c = self.clone();
        let mut params = match c.rope_parameters.take() {
            Some(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        params.insert("rope_theta".into(), serde_json::json!(self.rope_theta()));
        params.entry("rope_type").or_insert_with(|| serde_json::json!("default"));
        c.rope_parameters = Some(serde_json::Value::Object(params));
        c.rope_theta = Some(self.rope_theta());
        c
    }

    /// The RoPE base: `rope_theta`, else `rope_parameters.rope_theta` (transformers 5), else transformers' default
    /// 10000.
    pub fn rope_theta(&self) -> f64 {
        let nested = || self.rope_parameters.as_ref()?.get("rope_theta")?.as_f64();
        self.rope_theta.or_else(nested).unwrap_or(DEFAULT_ROPE_THETA)
    }

    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Number of parameters (counting tied embeddings once).
    pub fn num_params(&self) -> usize {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let kv = self.num_kv_heads() * self.head_dim();
        let attn = h * h + h + 2 * (h * kv + kv) + h * h;
        let mlp = 3 * h * i;
        let layer = attn + mlp + 2 * h;
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        v * h + self.num_hidden_layers * layer + h + head
    }

    /// Bytes of KV cache for one token of one sequence at `dtype_bytes` per element.
    pub fn kv_bytes_per_token(&self, dtype_bytes: usize) -> usize {
        2 * self.num_hidden_layers * self.num_kv_heads() * self.head_dim() * dtype_bytes
    }
}

/// `generation_config.json`: the stop tokens and the sampling defaults of the checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<TokenIds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_sample: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl GenerationConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        read_json(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_null_sliding_window_and_extra_keys() {
        let json = r#"{"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1, "sliding_window": null, "use_sliding_window": false,
            "transformers_version": "4.43.1", "eos_token_id": [1, 2]}"#;
        let c: Config = serde_json::from_str(json).unwrap();
        c.validate(Path::new("config.json")).unwrap();
        assert_eq!(c.sliding_window, None);
        assert_eq!(c.extra["transformers_version"], "4.43.1");
        assert_eq!(c.eos_token_id.unwrap().to_vec(), vec![1, 2]);
    }

    fn with(extra: &str) -> std::result::Result<Config, String> {
        let json = format!(
            r#"{{"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
            "num_attention_heads": 2{extra}}}"#
        );
        let c: Config = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        c.validate(Path::new("/m/config.json")).map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn rope_base_as_transformers_4_and_5_write_it() {
        assert_eq!(with("").unwrap().rope_theta(), 10000.0);
        assert_eq!(with(r#", "rope_theta": 1000000.0"#).unwrap().rope_theta(), 1e6);
        let v5 = with(r#", "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "dtype": "bfloat16""#);
        let v5 = v5.unwrap();
        assert_eq!(v5.rope_theta(), 1e6);
        let back: Config = serde_json::from_str(&serde_json::to_string(&v5).unwrap()).unwrap();
        assert_eq!((back.rope_theta(), back.rope_theta), (1e6, None));
        with(r#", "rope_scaling": null"#).unwrap();
        for (extra, field) in [
            (r#", "rope_scaling": {"rope_type": "yarn", "factor": 4.0}"#, "rope_scaling"),
            (r#", "rope_scaling": {"type": "linear", "factor": 2.0}"#, "rope_scaling"),
            (r#", "rope_parameters": {"rope_theta": 1e6, "rope_type": "dynamic"}"#, "rope_parameters"),
            (r#", "rope_theta": 10000.0, "rope_parameters": {"rope_theta": 1e6}"#, "rope_theta"),
            (r#", "rope_parameters": {"rope_theta": "big"}"#, "rope_parameters.rope_theta"),
            (r#", "rope_theta": -1.0"#, "rope_theta"),
        ] {
            let e = with(extra).unwrap_err();
            assert!(e.contains("/m/config.json") && e.contains(field), "{extra}: {e}");
        }
    }

    #[test]
    fn bad_config_names_file_and_field() {
        let json = r#"{"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
            "num_attention_heads": 3}"#;
        let c: Config = serde_json::from_str(json).unwrap();
        let e = c.validate(Path::new("/m/config.json")).unwrap_err().to_string();
        assert!(e.contains("/m/config.json") && e.contains("num_attention_heads"), "{e}");
    }
}
