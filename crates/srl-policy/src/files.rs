//! Hugging Face model folders: resolving `--model`, finding the files, reading and writing weights.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::config::{Config, GenerationConfig};
use crate::error::{PolicyError, Result, read_json, write_json};
use crate::model::weight_shapes;

pub const CONFIG: &str = "config.json";
pub const GENERATION_CONFIG: &str = "generation_config.json";
pub const TOKENIZER: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
pub const WEIGHTS: &str = "model.safetensors";
pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";

/// Turns `--model` into a folder: an existing folder as is; otherwise a Hugging Face repo id (`ORG/NAME`) is
/// looked up in the local Hugging Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`), at
/// `models--ORG--NAME/snapshots/<refs/main>/`. Nothing is downloaded: an uncached id is an error that says how
/// to download it.
pub fn resolve_model(model: &str) -> Result<PathBuf> {
    resolve_model_in(model, &hub_roots())
}

/// [`resolve_model`] over the given hub cache roots (folders holding `models--ORG--NAME`).
pub fn resolve_model_in(model: &str, roots: &[PathBuf]) -> Result<PathBuf> {
    let p = Path::new(model);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    let parts: Vec<&str> = model.split('/').collect();
    if parts.len() != 2 || parts.iter().any(|s| s.is_empty() || *s == "." || *s == "..") || p.exists() {
        return Err(PolicyError::MissingFile { path: p.to_path_buf() });
    }
    let folder = format!("models--{}--{}", parts[0], parts[1]);
    for root in roots {
        let repo = root.join(&folder);
        let Ok(rev) = std::fs::read_to_string(repo.join("refs").join("main")) else { continue };
        let snap = repo.join("snapshots").join(rev.trim());
        if snap.is_dir() {
            tracing::info!(repo = model, path = %snap.display(), "resolved from the Hugging Face cache");
            return Ok(snap);
        }
    }
    let looked_in = roots.iter().map(|r| r.join(&folder).display().to_string()).collect::<Vec<_>>().join(", ");
    Err(PolicyError::NotCached { repo: model.to_string(), looked_in })
}

/// The hub cache roots, in lookup order.
pub fn hub_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(c) = std::env::var_os("HF_HUB_CACHE") {
        roots.push(PathBuf::from(c));
    }
    if let Some(h) = std::env::var_os("HF_HOME") {
        roots.push(PathBuf::from(h).join("hub"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(home).join(".cache").join("huggingface").join("hub"));
    }
    roots
}

/// The weight files of a folder: `model.safetensors`, or the shards listed by `model.safetensors.index.json`.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join(WEIGHTS);
    if single.exists() {
        return Ok(vec![single]);
    }
    let index = dir.join(WEIGHTS_INDEX);
    if !index.exists() {
        return Err(PolicyError::MissingFile { path: single });
    }
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let idx: Index = read_json(&index)?;
    let mut files: Vec<String> = idx.weight_map.into_values().collect();
    files.sort();
    files.dedup();
    let mut out = Vec::new();
    for f in files {
        let p = dir.join(&f);
        if f.contains("..") || !p.exists() {
            return Err(PolicyError::bad_config(&index, "weight_map", format!("shard `{f}` is missing")));
        }
        out.push(p);
    }
    Ok(out)
}

/// Loads every tensor `cfg` needs from `files`, cast to `dtype` on `device`, checking names and shapes.
pub fn load_weights(
    files: &[PathBuf],
    cfg: &Config,
    dtype: DType,
    device: &Device,
) -> Result<BTreeMap<String, Tensor>> {
    let mut found: HashMap<String, (Tensor, PathBuf)> = HashMap::new();
    for path in files {
        // SAFETY: the file is mapped read-only; it must not be modified while loading, as with any mmap loader.
        let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }
            .map_err(|source| PolicyError::Safetensors { path: path.clone(), source })?;
        for (name, _) in st.tensors() {
            let t = st.load(&name, device).map_err(|source| PolicyError::Safetensors { path: path.clone(), source })?;
            found.insert(name, (t, path.clone()));
        }
    }
    let where_ = files.first().cloned().unwrap_or_default();
    let mut out = BTreeMap::new();
    for (name, shape) in weight_shapes(cfg) {
        let (t, path) = found
            .remove(&name)
            .ok_or_else(|| PolicyError::MissingTensor { path: where_.clone(), name: name.clone() })?;
        if t.dims() != shape.as_slice() {
            return Err(PolicyError::BadShape { path, name, expected: shape, got: t.dims().to_vec() });
        }
        out.insert(name, t.to_dtype(dtype)?);
    }
    if !found.is_empty() {
        let mut extra: Vec<&String> = found.keys().collect();
        extra.sort();
        tracing::debug!(?extra, "tensors not used by the model (e.g. a tied lm_head)");
    }
    Ok(out)
}

/// Saves `tensors` as `model.safetensors` under `dir`.
pub fn save_weights(dir: &Path, tensors: &BTreeMap<String, Tensor>, dtype: DType) -> Result<()> {
    let path = dir.join(WEIGHTS);
    let mut map = HashMap::new();
    for (k, t) in tensors {
        map.insert(k.clone(), t.detach().to_dtype(dtype)?);
    }
    candle_core::safetensors::save(&map, &path).map_err(|source| PolicyError::Safetensors { path, source })
}

/// Hugging Face's name for a dtype (`torch_dtype`).
pub fn torch_dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        DType::F64 => "float64",
        _ => "float32",
    }
}
/// The pieces of a model folder held in memory.
#[derive(Clone, Debug)]
pub struct ModelParts {
    pub config: Config,
    pub generation: GenerationConfig,
    /// `tokenizer.json`'s text.
    pub tokenizer_json: String,
    /// `tokenizer_config.json`'s text, if any.
    pub tokenizer_config_json: Option<String>,
    /// Weights by checkpoint name (any dtype; cast on load).
    pub weights: BTreeMap<String, Tensor>,
}

/// Writes a Hugging Face folder: config.json, generation_config.json, tokenizer.json, tokenizer_config.json (if
/// any) and model.safetensors in `dtype`.
pub fn write_folder(dir: &Path, parts: &ModelParts, dtype: DType) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| PolicyError::io(dir, e))?;
    let mut config = parts.config.to_transformers5();
    config.dtype = Some(torch_dtype_name(dtype).into());
    write_json(&dir.join(CONFIG), &config)?;
    write_json(&dir.join(GENERATION_CONFIG), &parts.generation)?;
    let tok = dir.join(TOKENIZER);
    std::fs::write(&tok, &parts.tokenizer_json).map_err(|e| PolicyError::io(&tok, e))?;
    if let Some(tc) = &parts.tokenizer_config_json {
        let p = dir.join(TOKENIZER_CONFIG);
        std::fs::write(&p, tc).map_err(|e| PolicyError::io(&p, e))?;
    }
    save_weights(dir, &parts.weights, dtype)
}
