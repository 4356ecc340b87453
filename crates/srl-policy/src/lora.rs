//! LoRA adapters, saved and loaded in PEFT's layout (`adapter_config.json` + `adapter_model.safetensors`).
//!
//! An adapter on projection `W` (`[out, in]`) adds `scale * B A` with `A: [r, in]`, `B: [out, r]` and
//! `scale = alpha / r` (or `alpha / sqrt(r)` with rsLoRA). `A` starts Kaiming-uniform as in PEFT (bound
//! `1/sqrt(in)`), `B` at zero, so a fresh adapter leaves the model unchanged. Tensor names are PEFT's:
//! `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result, read_json, write_json};
use crate::model::{PROJ_NAMES, proj_path};
use crate::rng::uniform_vec;

/// The PEFT file names.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// Which projections get adapters, their rank and scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank `r`.
    pub r: usize,
    /// `lora_alpha`: the scale is `alpha / r`.
    pub alpha: f64,
    /// Only 0 is supported (the SRL recipe trains without LoRA dropout).
    pub dropout: f64,
    /// Projection names (`q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`).
    pub target_modules: Vec<String>,
    /// rsLoRA: scale `alpha / sqrt(r)`.
    pub use_rslora: bool,
    /// Seed of `A`'s initialisation.
    pub seed: u64,
}

impl Default for LoraConfig {
    /// r = 16, alpha = 32, dropout 0, all attention and MLP projections, seed 0.
    fn default() -> Self {
        LoraConfig {
            r: 16,
            alpha: 32.0,
            dropout: 0.0,
            target_modules: PROJ_NAMES.iter().map(|s| s.to_string()).collect(),
            use_rslora: false,
            seed: 0,
        }
    }
}

impl LoraConfig {
    pub fn scale(&self) -> f64 {
        if self.use_rslora { self.alpha / (self.r as f64).sqrt() } else { self.alpha / self.r as f64 }
    }

    /// Checks the rank, dropout and module names; `path` names the source in errors.
    pub fn validate(&self, path: &Path) -> Result<()> {
        if self.r == 0 {
            return Err(PolicyError::bad_config(path, "r", "the LoRA rank must be positive"));
        }
        if self.dropout != 0.0 {
            return Err(PolicyError::bad_config(path, "lora_dropout", "only 0 is supported"));
        }
        if self.target_modules.is_empty() {
            return Err(PolicyError::bad_config(path, "target_modules", "no module named"));
        }
        for m in &self.target_modules {
            if !PROJ_NAMES.contains(&m.as_str()) {
                return Err(PolicyError::bad_config(
                    path,
                    "target_modules",
                    format!("`{m}` is not a Qwen2 projection (one of {PROJ_NAMES:?})"),
                ));
            }
        }
        Ok(())
    }
}

/// PEFT's `adapter_config.json` (the fields we read and write).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PeftConfig {
    #[serde(default = "lora_str")]
    peft_type: String,
    #[serde(default)]
    task_type: Option<String>,
    r: usize,
    lora_alpha: f64,
    #[serde(default)]
    lora_dropout: f64,
    target_modules: serde_json::Value,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
    #[serde(default = "none_str")]
    bias: String,
    #[serde(default)]
    fan_in_fan_out: bool,
    #[serde(default)]
    base_model_name_or_path: Option<String>,
    #[serde(default)]
    rank_pattern: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    alpha_pattern: BTreeMap<String, serde_json::Value>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

fn lora_str() -> String {
    "LORA".into()
}
fn none_str() -> String {
    "none".into()
}

/// One adapter pair as trainable variables.
#[derive(Clone, Debug)]
pub struct LoraModule {
    pub layer: usize,
    /// Projection name, e.g. `q_proj`.
    pub name: String,
    pub a: Var,
    pub b: Var,
}

impl LoraModule {
    /// The module path, e.g. `model.layers.0.self_attn.q_proj`.
    pub fn path(&self) -> String {
        proj_path(self.layer, &self.name)
    }
}

/// The adapters of a model: a config and one [`LoraModule`] per (layer, target projection).
#[derive(Clone, Debug)]
pub struct LoraAdapters {
    pub config: LoraConfig,
    pub modules: Vec<LoraModule>,
}

impl LoraAdapters {
    /// Fresh adapters: `A` seeded uniform, `B` zero. `dims(layer, name)` gives the projection's `(in, out)`.
    pub fn new(
        config: &LoraConfig,
        num_layers: usize,
        dims: &dyn Fn(&str) -> (usize, usize),
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        config.validate(Path::new("LoraConfig"))?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        let mut modules = Vec::new();
        for layer in 0..num_layers {
            for name in PROJ_NAMES.iter().filter(|n| config.target_modules.iter().any(|t| t == *n)) {
                let (fan_in, fan_out) = dims(name);
                let bound = 1.0 / (fan_in as f64).sqrt();
                let a = Tensor::from_vec(uniform_vec(&mut rng, config.r * fan_in, bound), (config.r, fan_in), device)?
                    .to_dtype(dtype)?;
                let b = Tensor::zeros((fan_out, config.r), dtype, device)?;
                modules.push(LoraModule {
                    layer,
                    name: name.to_string(),
                    a: Var::from_tensor(&a)?,
                    b: Var::from_tensor(&b)?,
                });
            }
        }
        Ok(LoraAdapters { config: config.clone(), modules })
    }

    /// Every variable, `A` then `B` per module.
    pub fn vars(&self) -> Vec<Var> {
        self.modules.iter().flat_map(|m| [m.a.clone(), m.b.clone()]).collect()
    }

    /// Saves `adapter_config.json` and `adapter_model.safetensors` in PEFT's layout under `dir`.
    pub fn save(&self, dir: &Path, base_model: Option<&str>) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| PolicyError::io(dir, e))?;
        let mut extra = BTreeMap::new();
        extra.insert("inference_mode".into(), serde_json::Value::Bool(true));
        extra.insert("init_lora_weights".into(), serde_json::Value::Bool(true));
        extra.insert("modules_to_save".into(), serde_json::Value::Null);
        extra.insert("layers_to_transform".into(), serde_json::Value::Null);
        extra.insert("layers_pattern".into(), serde_json::Value::Null);
        extra.insert("revision".into(), serde_json::Value::Null);
        let cfg = PeftConfig {
            peft_type: lora_str(),
            task_type: Some("CAUSAL_LM".into()),
            r: self.config.r,
            lora_alpha: self.config.alpha,
            lora_dropout: self.config.dropout,
            target_modules: serde_json::json!(self.config.target_modules),
            use_rslora: self.config.use_rslora,
            use_dora: false,
            bias: none_str(),
            fan_in_fan_out: false,
            base_model_name_or_path: base_model.map(str::to_string),
            rank_pattern: BTreeMap::new(),
            alpha_pattern: BTreeMap::new(),
            extra,
        };
        write_json(&dir.join(ADAPTER_CONFIG), &cfg)?;
        let mut tensors: BTreeMap<String, Tensor> = BTreeMap::new();
        for m in &self.modules {
            let p = m.path();
            tensors.insert(format!("base_model.model.{p}.lora_A.weight"), m.a.as_detached_tensor());
            tensors.insert(format!("base_model.model.{p}.lora_B.weight"), m.b.as_detached_tensor());
        }
        let path = dir.join(ADAPTER_WEIGHTS);
        let tensors: HashMap<String, Tensor> = tensors.into_iter().collect();
        candle_core::safetensors::save(&tensors, &path).map_err(|source| PolicyError::Safetensors { path, source })
    }

    /// Loads a PEFT adapter folder for a model with `num_layers` layers; `dims(name)` gives `(in, out)`.
    pub fn load(
        dir: &Path,
        num_layers: usize,
        dims: &dyn Fn(&str) -> (usize, usize),
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let cfg_path = dir.join(ADAPTER_CONFIG);
        let peft: PeftConfig = read_json(&cfg_path)?;
        if peft.peft_type != "LORA" {
            return Err(PolicyError::bad_config(&cfg_path, "peft_type", format!("`{}` is not LORA", peft.peft_type)));
        }
        if peft.use_dora {
            return Err(PolicyError::bad_config(&cfg_path, "use_dora", "DoRA is not supported"));
        }
        if peft.fan_in_fan_out {
            return Err(PolicyError::bad_config(&cfg_path, "fan_in_fan_out", "only false is supported"));
        }
        if peft.bias != "none" {
            return Err(PolicyError::bad_config(&cfg_path, "bias", "only `none` is supported"));
        }
        if !peft.rank_pattern.is_empty() || !peft.alpha_pattern.is_empty() {
            return Err(PolicyError::bad_config(&cfg_path, "rank_pattern", "per-module ranks are not supported"));
        }
        let target_modules: Vec<String> = serde_json::from_value(peft.target_modules.clone()).map_err(|_| {
            PolicyError::bad_config(&cfg_path, "target_modules", "must be a list of module names (regex not supported)")
        })?;
        let config = LoraConfig {
            r: peft.r,
            alpha: peft.lora_alpha,
            dropout: peft.lora_dropout,
            target_modules,
            use_rslora: peft.use_rslora,
            seed: 0,
        };
        config.validate(&cfg_path)?;
        let path = dir.join(ADAPTER_WEIGHTS);
        if !path.exists() {
            return Err(PolicyError::MissingFile { path });
        }
        let tensors = candle_core::safetensors::load(&path, device)
            .map_err(|source| PolicyError::Safetensors { path: path.clone(), source })?;
        let find = |p: &str, ab: &str, shape: (usize, usize)| -> Result<Var> {
            let names = [
                format!("base_model.model.{p}.lora_{ab}.weight"),
                format!("base_model.model.{p}.lora_{ab}.default.weight"),
            ];
            let t = names
                .iter()
                .find_map(|n| tensors.get(n))
                .ok_or_else(|| PolicyError::MissingTensor { path: path.clone(), name: names[0].clone() })?;
            if t.dims() != [shape.0, shape.1] {
                return Err(PolicyError::BadShape {
                    path: path.clone(),
                    name: names[0].clone(),
                    expected: vec![shape.0, shape.1],
                    got: t.dims().to_vec(),
                });
            }
            Ok(Var::from_tensor(&t.to_dtype(dtype)?)?)
        };
        let mut modules = Vec::new();
        for layer in 0..num_layers {
            for name in PROJ_NAMES.iter().filter(|n| config.target_modules.iter().any(|t| t == *n)) {
                let (fan_in, fan_out) = dims(name);
                let p = proj_path(layer, name);
                modules.push(LoraModule {
                    layer,
                    name: name.to_string(),
                    a: find(&p, "A", (config.r, fan_in))?,
                    b: find(&p, "B", (fan_out, config.r))?,
                });
            }
        }
        tracing::info!(dir = %dir.display(), modules = modules.len(), r = config.r, "loaded LoRA adapter");
        Ok(LoraAdapters { config, modules })
    }
}
