//! Policies from spec strings, shared by `srl-swe eval --policy X` and `srl-swe rollout --policy X`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use srl_policy::{DType, Device, Policy, PolicyOptions};

use crate::candle::{CandleOptions, CandlePolicy};
use crate::error::AgentError;
use crate::openai::{OpenAiOptions, OpenAiPolicy};
use crate::policy::AgentPolicy;
use crate::scripted::ScriptedPolicy;

/// What a `--policy` string names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySpec {
    /// `http://HOST:PORT/v1`: an OpenAI-compatible endpoint (the model name comes from `--model`).
    OpenAi(String),
    /// `scripted:PATH`: replay the trajectories in PATH (file or folder, any format srl-data reads).
    Scripted(PathBuf),
    /// Anything else: a local model folder for candle (a Hugging Face folder; a PEFT adapter folder whose
    /// `adapter_config.json` names its base; or a trainer export holding `model/` or `adapter/`), or a repo id
    /// in the local Hugging Face cache.
    Model(String),
}

impl FromStr for PolicySpec {
    type Err = AgentError;
    fn from_str(s: &str) -> Result<Self, AgentError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AgentError::Spec(
                "empty policy spec: give MODEL_DIR, http://HOST:PORT/v1 or scripted:PATH".into(),
            ));
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(PolicySpec::OpenAi(s.to_string()));
        }
        if let Some(p) = s.strip_prefix("scripted:") {
            if p.is_empty() {
                return Err(AgentError::Spec("scripted: needs a path (scripted:PATH)".into()));
            }
            return Ok(PolicySpec::Scripted(PathBuf::from(p)));
        }
        Ok(PolicySpec::Model(s.to_string()))
    }
}

impl fmt::Display for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySpec::OpenAi(u) => f.write_str(u),
            PolicySpec::Scripted(p) => write!(f, "scripted:{}", p.display()),
            PolicySpec::Model(m) => f.write_str(m),
        }
    }
}

/// The settings of every backend; each uses the ones that concern it. `Default`: greedy, 1024 new tokens,
/// prompts cut to 8192 tokens (candle), seed 0, 300 s per HTTP request with 4 retries, CPU.
#[derive(Clone, Debug)]
pub struct PolicyBuildOptions {
    /// The served model name (required for `http://`; `--model NAME`).
    pub model: Option<String>,
    /// Environment variable holding the API key (`http://`).
    pub api_key_env: Option<String>,
    /// 0: greedy.
    pub temperature: f64,
    /// 1.0: off.
    pub top_p: f64,
    /// 0: off (candle only; the chat-completions API has no top-k).
    pub top_k: usize,
    /// New tokens per call.
    pub max_tokens: usize,
    /// Prompt budget of the candle policy in tokens (older history dropped first; 0: none).
    pub max_prompt_tokens: usize,
    pub seed: u64,
    pub request_timeout: Duration,
    pub max_retries: usize,
    pub backoff_initial: Duration,
    /// Candle device and dtype (`None`: f32 on CPU, bf16 on CUDA).
    pub device: Device,
    pub dtype: Option<DType>,
    /// A PEFT adapter folder to load on top of the candle model.
    pub adapter: Option<PathBuf>,
}

impl Default for PolicyBuildOptions {
    fn default() -> Self {
        let c = CandleOptions::default();
        let o = OpenAiOptions::default();
        PolicyBuildOptions {
            model: None,
            api_key_env: None,
            temperature: c.temperature,
            top_p: c.top_p,
            top_k: c.top_k,
            max_tokens: c.max_new_tokens,
            max_prompt_tokens: c.max_prompt_tokens,
            seed: c.seed,
            request_timeout: o.request_timeout,
            max_retries: o.max_retries,
            backoff_initial: o.backoff_initial,
            device: Device::Cpu,
            dtype: None,
            adapter: None,
        }
    }
}

/// Builds the policy a spec string names (see [`PolicySpec`]). Loading a candle model blocks (call it before
/// the episodes, or inside `spawn_blocking`).
pub fn build_policy(spec: &str, opts: &PolicyBuildOptions) -> Result<Box<dyn AgentPolicy>, AgentError> {
    match spec.parse::<PolicySpec>()? {
        PolicySpec::OpenAi(base_url) => {
            let model = opts.model.clone().filter(|m| !m.trim().is_empty()).ok_or_else(|| {
                AgentError::Spec(format!(
                    "{base_url}: an OpenAI-compatible endpoint needs the model name (--model NAME)"
                ))
            })?;
            let o = OpenAiOptions {
                base_url,
                model,
                api_key_env: opts.api_key_env.clone(),
                temperature: opts.temperature,
                top_p: (opts.top_p < 1.0).then_some(opts.top_p),
                max_tokens: Some(opts.max_tokens as u64),
                seed: Some(opts.seed),
                request_timeout: opts.request_timeout,
                max_retries: opts.max_retries,
                backoff_initial: opts.backoff_initial,
                ..Default::default()
            };
            Ok(Box::new(OpenAiPolicy::new(o)?))
        }
        PolicySpec::Scripted(path) => Ok(Box::new(ScriptedPolicy::from_path(&path)?)),
        PolicySpec::Model(model) => Ok(Box::new(load_candle(&model, opts)?)),
    }
}

/// Loads a candle policy from a folder or a cached repo id (see [`PolicySpec::Model`]).
pub fn load_candle(model: &str, opts: &PolicyBuildOptions) -> Result<CandlePolicy, AgentError> {
    let name = model.trim_end_matches('/').to_string();
    let (base, adapter) = resolve_model_folder(Path::new(&name))?;
    let adapter = opts.adapter.clone().or(adapter);
    let popts = PolicyOptions { device: opts.device.clone(), dtype: opts.dtype, ..Default::default() };
    let mut policy = Policy::load(&base, &popts)
        .map_err(|source| AgentError::Load { path: PathBuf::from(&base), source: Box::new(source) })?;
    if let Some(dir) = adapter {
        policy.load_adapter(&dir).map_err(|source| AgentError::Load { path: dir.clone(), source: Box::new(source) })?;
        tracing::info!(adapter = %dir.display(), "LoRA adapter loaded");
    }
    let options = CandleOptions {
        temperature: opts.temperature,
        top_p: opts.top_p,
        top_k: opts.top_k,
        max_new_tokens: opts.max_tokens,
        max_prompt_tokens: opts.max_prompt_tokens,
        seed: opts.seed,
    };
    Ok(CandlePolicy::new(Arc::new(policy), name, options))
}

/// (what to give [`Policy::load`], an adapter folder to load on top).
fn resolve_model_folder(path: &Path) -> Result<(String, Option<PathBuf>), AgentError> {
    let shown = path.display().to_string();
    if !path.is_dir() || path.join("config.json").is_file() {
        // A model folder, or not a folder at all (a repo id of the local cache: Policy::load resolves it).
        return Ok((shown, None));
    }
    if path.join("adapter_config.json").is_file() {
        let cfg_path = path.join("adapter_config.json");
        let text =
            std::fs::read_to_string(&cfg_path).map_err(|source| AgentError::Io { path: cfg_path.clone(), source })?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| AgentError::Spec(format!("{}: not JSON: {e}", cfg_path.display())))?;
        let base =
            v.get("base_model_name_or_path").and_then(|b| b.as_str()).filter(|b| !b.is_empty()).ok_or_else(|| {
                AgentError::Spec(format!(
                    "{}: no base_model_name_or_path; load the base model and pass the adapter",
                    cfg_path.display()
                ))
            })?;
        return Ok((base.to_string(), Some(path.to_path_buf())));
    }
    for sub in ["model", "adapter"] {
        if path.join(sub).is_dir() {
            return resolve_model_folder(&path.join(sub));
        }
    }
    Err(AgentError::Spec(format!(
        "{shown}: not a model folder (no config.json), an adapter folder (no adapter_config.json), nor a trainer \
         export (no model/ or adapter/)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(
            "http://127.0.0.1:8000/v1".parse::<PolicySpec>().unwrap(),
            PolicySpec::OpenAi("http://127.0.0.1:8000/v1".into())
        );
        assert_eq!("scripted:a/b.jsonl".parse::<PolicySpec>().unwrap(), PolicySpec::Scripted("a/b.jsonl".into()));
        assert_eq!("runs/x/final".parse::<PolicySpec>().unwrap(), PolicySpec::Model("runs/x/final".into()));
        assert!("".parse::<PolicySpec>().is_err());
        assert!("scripted:".parse::<PolicySpec>().is_err());
    }

    #[test]
    fn http_needs_a_model_name() {
        let e = build_policy("http://127.0.0.1:1/v1", &PolicyBuildOptions::default()).err().unwrap();
        assert!(e.to_string().contains("--model NAME"), "{e}");
        let opts = PolicyBuildOptions { model: Some("m".into()), ..Default::default() };
        assert_eq!(build_policy("http://127.0.0.1:1/v1", &opts).unwrap().model_name(), "m");
    }

    #[test]
    fn folders_are_resolved() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve_model_folder(d.path()).unwrap_err();
        assert!(e.to_string().contains("not a model folder"), "{e}");
        std::fs::create_dir(d.path().join("adapter")).unwrap();
        std::fs::write(d.path().join("adapter/adapter_config.json"), r#"{"base_model_name_or_path":"/m"}"#).unwrap();
        let (base, adapter) = resolve_model_folder(d.path()).unwrap();
        assert_eq!(base, "/m");
        assert_eq!(adapter.unwrap(), d.path().join("adapter"));
        assert!(build_policy("scripted:/nonexistent/x.jsonl", &PolicyBuildOptions::default()).is_err());
    }
}
