//! The trained-model folder: what a training run leaves in `<run>/final/` and what the agent and the command
//! line open. One owner of the contract:
//!
//! ```text
//! final/
//!   adapter/      a PEFT adapter (LoRA runs): adapter_config.json names the base model
//!   model/        a Hugging Face folder (full fine-tuning)
//!   prompt.json   the PromptConfig the run rendered its prompts with
//! ```
//!
//! [`TrainedModel::open`] also takes a plain Hugging Face folder, a PEFT adapter folder, a repo id of the local
//! Hugging Face cache, or one of the sub-folders above (its parent's `prompt.json` is then found).

use std::path::{Path, PathBuf};

use srl_core::PromptConfig;
use srl_core::prompt::PROMPT_CONFIG_FILE;

use crate::error::{PolicyError, Result, write_json};
use crate::policy::{Policy, PolicyOptions};

/// The sub-folder of a trainer export holding a PEFT adapter.
pub const ADAPTER_DIR: &str = "adapter";
/// The sub-folder of a trainer export holding a full Hugging Face model.
pub const MODEL_DIR: &str = "model";

/// A model as the agent or an evaluation loads it: a base (folder or cached repo id), an optional adapter on
/// top, and the prompt settings it was trained with when a trainer wrote them.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedModel {
    /// What [`Policy::load`] takes: a Hugging Face folder or a repo id of the local cache.
    pub base: String,
    /// A PEFT adapter folder to load on top of `base`.
    pub adapter: Option<PathBuf>,
    /// The prompt settings and the file they came from (`prompt.json` in the folder or its parent).
    pub prompt: Option<(PathBuf, PromptConfig)>,
}

impl TrainedModel {
    /// Writes `policy` as a trainer export into `dir`: `adapter/` under LoRA (its `adapter_config.json` names the
    /// base the policy was loaded from), else `model/`, and `prompt.json` (atomically).
    pub fn write(dir: &Path, policy: &Policy, prompt: &PromptConfig) -> Result<()> {
        if policy.lora().is_some() {
            policy.save_adapter(&dir.join(ADAPTER_DIR))?;
        } else {
            policy.save_full(&dir.join(MODEL_DIR))?;
        }
        write_json(&dir.join(PROMPT_CONFIG_FILE), prompt)
    }

    /// Opens a model folder (see the module docs). A path that is not a folder is taken as a repo id of the
    /// local Hugging Face cache ([`Policy::load`] resolves it). A folder that is none of the known layouts, an
    /// adapter without its base, or an unreadable `prompt.json` is an error naming the file.
    pub fn open(path: &Path) -> Result<TrainedModel> {
        let shown = path.display().to_string();
        let shown = shown.trim_end_matches('/').to_string();
        if !path.is_dir() {
            return Ok(TrainedModel { base: shown, adapter: None, prompt: None });
        }
        let prompt = find_prompt(path)?;
        if path.join(crate::files::CONFIG).is_file() {
            return Ok(TrainedModel { base: shown, adapter: None, prompt });
        }
        if path.join(crate::lora::ADAPTER_CONFIG).is_file() {
            return Ok(TrainedModel { base: adapter_base(path)?, adapter: Some(path.to_path_buf()), prompt });
        }
        for sub in [MODEL_DIR, ADAPTER_DIR] {
            if path.join(sub).is_dir() {
                let inner = TrainedModel::open(&path.join(sub))?;
                return Ok(TrainedModel { prompt: inner.prompt.or(prompt), ..inner });
            }
        }
        Err(PolicyError::Invalid(format!(
            "{shown}: not a model folder (no config.json), an adapter folder (no adapter_config.json), nor a trainer \
             export (no model/ or adapter/)"
        )))
    }

    /// The prompt settings, if the folder carries them.
    pub fn prompt_config(&self) -> Option<&PromptConfig> {
        self.prompt.as_ref().map(|(_, p)| p)
    }

    /// Loads the base with `opts` and the adapter on top.
    pub fn load(&self, opts: &PolicyOptions) -> Result<Policy> {
        let mut policy = Policy::load(&self.base, opts)?;
        if let Some(dir) = &self.adapter {
            policy.load_adapter(dir)?;
            tracing::info!(adapter = %dir.display(), "LoRA adapter loaded");
        }
        Ok(policy)
    }
}

/// `prompt.json` in `dir` or its parent (`final/adapter` -> `final/`).
fn find_prompt(dir: &Path) -> Result<Option<(PathBuf, PromptConfig)>> {
    let candidates = [Some(dir), dir.parent()];
    let Some(path) = candidates.into_iter().flatten().map(|d| d.join(PROMPT_CONFIG_FILE)).find(|p| p.is_file()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| PolicyError::io(&path, e))?;
    let p: PromptConfig =
        serde_json::from_str(&text).map_err(|source| PolicyError::Json { path: path.clone(), source })?;
    Ok(Some((path, p)))
}

/// The base model an adapter folder names (`base_model_name_or_path` in `adapter_config.json`).
fn adapter_base(dir: &Path) -> Result<String> {
    let path = dir.join(crate::lora::ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&path).map_err(|e| PolicyError::io(&path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| PolicyError::Json { path: path.clone(), source })?;
    match v.get("base_model_name_or_path").and_then(|b| b.as_str()).filter(|b| !b.is_empty()) {
        Some(b) => Ok(b.to_string()),
        None => Err(PolicyError::BadConfig {
            path,
            field: "base_model_name_or_path".into(),
            message: "missing; load the base model and pass the adapter".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_resolved() {
        let d = tempfile::tempdir().unwrap();
        let e = TrainedModel::open(d.path()).unwrap_err();
        assert!(e.to_string().contains("not a model folder"), "{e}");
        std::fs::create_dir(d.path().join(ADAPTER_DIR)).unwrap();
        std::fs::write(d.path().join("adapter/adapter_config.json"), r#"{"base_model_name_or_path":"/m"}"#).unwrap();
        let prompt = PromptConfig { max_task_chars: 7, ..Default::default() };
        std::fs::write(d.path().join(PROMPT_CONFIG_FILE), serde_json::to_string(&prompt).unwrap()).unwrap();
        for p in [d.path().to_path_buf(), d.path().join(ADAPTER_DIR)] {
            let m = TrainedModel::open(&p).unwrap();
            assert_eq!(m.base, "/m");
            assert_eq!(m.adapter.as_deref(), Some(d.path().join(ADAPTER_DIR).as_path()));
            assert_eq!(m.prompt_config(), Some(&prompt));
        }
        std::fs::write(d.path().join("adapter/adapter_config.json"), "{}").unwrap();
        let e = TrainedModel::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("adapter_config.json") && e.contains("base_model_name_or_path"), "{e}");
        std::fs::write(d.path().join(PROMPT_CONFIG_FILE), "{\"window\": \"x\"}").unwrap();
        let e = TrainedModel::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("prompt.json"), "{e}");
        let m = TrainedModel::open(Path::new("Qwen/Qwen2.5-Coder-0.5B-Instruct")).unwrap();
        assert_eq!((m.base.as_str(), m.adapter, m.prompt), ("Qwen/Qwen2.5-Coder-0.5B-Instruct", None, None));
    }

    #[test]
    fn a_written_export_opens_and_loads() {
        let d = tempfile::tempdir().unwrap();
        let parts = crate::init::random_parts(crate::init::Preset::Tiny, 0).unwrap();
        let policy = Policy::from_parts(parts, &PolicyOptions::default()).unwrap();
        let prompt = PromptConfig { max_task_chars: 9, ..Default::default() };
        TrainedModel::write(d.path(), &policy, &prompt).unwrap();
        let m = TrainedModel::open(d.path()).unwrap();
        assert_eq!(m.base, d.path().join(MODEL_DIR).display().to_string());
        assert_eq!((m.adapter.as_deref(), m.prompt_config()), (None, Some(&prompt)));
        let loaded = m.load(&PolicyOptions::default()).unwrap();
        let ids = [1u32, 2, 3];
        let a = policy.logprobs_detached(&[(ids.to_vec(), vec![4, 5])]).unwrap().logprobs;
        let b = loaded.logprobs_detached(&[(ids.to_vec(), vec![4, 5])]).unwrap().logprobs;
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-6, "reloaded weights differ: {diff}");
    }
}
