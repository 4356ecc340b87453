//! Policies from spec strings, shared by `srl-swe eval --policy X` and `srl-swe rollout --policy X`.

use std::fmt;
#[cfg(feature = "candle")]
use std::path::Path;
use std::path::PathBuf;
use std::str::FromStr;
#[cfg(feature = "candle")]
use std::sync::Arc;
use std::time::Duration;

use srl_core::{DTypeSpec, DeviceSpec, SamplingParams};

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
/// prompts cut to 8192 tokens (candle), seed 0, 300 s per HTTP request with 4 retries, CPU with its dtype.
#[derive(Clone, Debug)]
pub struct PolicyBuildOptions {
    /// The served model name (required for `http://` and `https://`; `--model NAME`).
    pub model: Option<String>,
    /// Environment variable holding the API key (`http://`, `https://`).
    pub api_key_env: Option<String>,
    /// Temperature (0: greedy), top-p (1: off), top-k (0: off; candle only, the chat-completions API has none)
    /// and new tokens per call.
    pub sampling: SamplingParams,
    /// Prompt budget of the candle policy in tokens (older history dropped first; 0: none).
    pub max_prompt_tokens: usize,
    /// Call `t` of an episode samples with seed `seed + t`.
    pub seed: u64,
    pub request_timeout: Duration,
    pub max_retries: usize,
    pub backoff_initial: Duration,
    /// A PEM file of extra trusted certificates for an `https://` endpoint (`None`: `SRL_CA_CERT`, if set).
    pub ca_cert: Option<PathBuf>,
    /// Candle device and dtype (`auto`: f32 on CPU, bf16 on CUDA).
    pub device: DeviceSpec,
    pub dtype: DTypeSpec,
    /// A PEFT adapter folder to load on top of the candle model (instead of the one the folder holds).
    pub adapter: Option<PathBuf>,
}

impl Default for PolicyBuildOptions {
    fn default() -> Self {
        let o = OpenAiOptions::default();
        PolicyBuildOptions {
            model: None,
            api_key_env: None,
            sampling: SamplingParams::greedy(1024),
            max_prompt_tokens: 8192,
            seed: 0,
            request_timeout: o.request_timeout,
            max_retries: o.max_retries,
            backoff_initial: o.backoff_initial,
            ca_cert: None,
            device: DeviceSpec::Cpu,
            dtype: DTypeSpec::Auto,
            adapter: None,
        }
    }
}

/// Builds the policy a spec string names (see [`PolicySpec`]). Loading a candle model blocks (call it before
/// the episodes, or inside `spawn_blocking`); a build without the `candle` feature refuses model folders.
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
                sampling: opts.sampling,
                seed: Some(opts.seed),
                request_timeout: opts.request_timeout,
                max_retries: opts.max_retries,
                backoff_initial: opts.backoff_initial,
                ca_cert: opts.ca_cert.clone(),
                ..Default::default()
            };
            Ok(Box::new(OpenAiPolicy::new(o)?))
        }
        PolicySpec::Scripted(path) => Ok(Box::new(ScriptedPolicy::from_path(&path)?)),
        #[cfg(feature = "candle")]
        PolicySpec::Model(model) => Ok(Box::new(load_candle(&model, opts)?)),
        #[cfg(not(feature = "candle"))]
        PolicySpec::Model(model) => Err(AgentError::Spec(format!(
            "{model}: a model folder needs the candle backend, and this build has no candle backend; rebuild with \
             --features candle"
        ))),
    }
}

/// Loads a candle policy from a folder or a cached repo id (see [`PolicySpec::Model`]) through
/// [`srl_policy::TrainedModel`], which resolves model folders, adapter folders and trainer exports.
#[cfg(feature = "candle")]
pub fn load_candle(model: &str, opts: &PolicyBuildOptions) -> Result<crate::candle::CandlePolicy, AgentError> {
    use crate::candle::{CandleOptions, CandlePolicy};
    let name = model.trim_end_matches('/').to_string();
    let load_error = |path: &str, source| AgentError::Load { path: PathBuf::from(path), source: Box::new(source) };
    let mut trained = srl_policy::TrainedModel::open(Path::new(&name)).map_err(|e| load_error(&name, e))?;
    if let Some(a) = &opts.adapter {
        trained.adapter = Some(a.clone());
    }
    let popts = srl_policy::PolicyOptions { device: opts.device, dtype: opts.dtype, ..Default::default() };
    let policy = trained.load(&popts).map_err(|e| load_error(&trained.base, e))?;
    let options = CandleOptions { sampling: opts.sampling, max_prompt_tokens: opts.max_prompt_tokens, seed: opts.seed };
    Ok(CandlePolicy::new(Arc::new(policy), name, options))
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
    fn scripted_needs_trajectories() {
        assert!(build_policy("scripted:/nonexistent/x.jsonl", &PolicyBuildOptions::default()).is_err());
    }

    #[test]
    fn defaults_are_greedy_1024() {
        let o = PolicyBuildOptions::default();
        assert_eq!(o.sampling, SamplingParams::greedy(1024));
        assert_eq!((o.device, o.dtype, o.max_prompt_tokens, o.seed), (DeviceSpec::Cpu, DTypeSpec::Auto, 8192, 0));
    }

    #[cfg(not(feature = "candle"))]
    #[test]
    fn model_folders_need_the_candle_feature() {
        let e = build_policy("runs/x/final", &PolicyBuildOptions::default()).err().unwrap().to_string();
        assert!(e.contains("runs/x/final") && e.contains("rebuild with --features candle"), "{e}");
    }

    #[cfg(feature = "candle")]
    #[test]
    fn folders_that_are_no_model_are_named() {
        let d = tempfile::tempdir().unwrap();
        let e = build_policy(d.path().to_str().unwrap(), &PolicyBuildOptions::default()).err().unwrap().to_string();
        assert!(e.contains("not a model folder"), "{e}");
    }
}
