//! The local policy: a [`srl_policy::Policy`] sampled on a blocking thread.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use srl_core::SamplingParams;
use srl_policy::{Policy, SampleOptions};

use crate::policy::{AgentPolicy, PolicyError, PolicyReply, PolicyRequest, TokenUsage};

/// How the candle policy samples. `Default`: greedy, 1024 new tokens, prompts cut to 8192 tokens, seed 0.
#[derive(Clone, Debug, PartialEq)]
pub struct CandleOptions {
    /// Temperature (0: greedy), top-p, top-k and new tokens per call.
    pub sampling: SamplingParams,
    /// Longest prompt in tokens: older history rounds are dropped from the left (system and task kept), as the
    /// trainer does (0: no limit).
    pub max_prompt_tokens: usize,
    /// Call `t` of an episode samples with seed `seed + t`, so a sampled episode is reproducible.
    pub seed: u64,
}

impl Default for CandleOptions {
    fn default() -> Self {
        CandleOptions { sampling: SamplingParams::greedy(1024), max_prompt_tokens: 8192, seed: 0 }
    }
}

/// A [`Policy`] as an agent policy: the messages go through the policy's own chat template
/// ([`Policy::chat_prompt`]), and one completion is sampled with [`Policy::sample`] on a
/// `spawn_blocking` thread (candle's CPU work would stall the runtime otherwise). A call cut off by the
/// episode's time budget finishes in the background; `max_new_tokens` bounds it.
#[derive(Clone)]
pub struct CandlePolicy {
    policy: Arc<Policy>,
    name: String,
    options: CandleOptions,
}

impl std::fmt::Debug for CandlePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandlePolicy").field("name", &self.name).field("options", &self.options).finish()
    }
}

impl CandlePolicy {
    /// Wraps a loaded policy; `name` is its `model_name_or_path`.
    pub fn new(policy: Arc<Policy>, name: impl Into<String>, options: CandleOptions) -> Self {
        CandlePolicy { policy, name: name.into(), options }
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }
}

impl AgentPolicy for CandlePolicy {
    fn model_name(&self) -> String {
        self.name.clone()
    }

    fn complete<'a>(&'a self, request: PolicyRequest<'a>) -> BoxFuture<'a, Result<PolicyReply, PolicyError>> {
        let policy = Arc::clone(&self.policy);
        let messages = request.messages.to_vec();
        let prefill = request.prefill.to_string();
        let o = &self.options;
        let sample = SampleOptions { n: 1, seed: o.seed.wrapping_add(request.turn as u64), params: o.sampling };
        let max_prompt = o.max_prompt_tokens;
        Box::pin(async move {
            let work = tokio::task::spawn_blocking(move || {
                let prompt = policy.chat_prompt(&messages, &prefill, max_prompt)?;
                if prompt.dropped_messages > 0 {
                    tracing::debug!(dropped = prompt.dropped_messages, "prompt cut to max_prompt_tokens");
                }
                let n_prompt = prompt.ids.len() as u64;
                let mut out = policy.sample(&[prompt.ids], &sample)?;
                Ok::<_, srl_policy::PolicyError>((n_prompt, out.pop()))
            });
            let prefill = request.prefill;
            let (n_prompt, completion) = work
                .await
                .map_err(|e| PolicyError::Model(format!("sampling thread: {e}")))?
                .map_err(|e| PolicyError::Model(e.to_string()))?;
            let c = completion.ok_or_else(|| PolicyError::Model("no completion returned".into()))?;
            Ok(PolicyReply {
                text: format!("{prefill}{}", c.text),
                usage: TokenUsage { prompt: Some(n_prompt), completion: Some(c.ids.len() as u64) },
            })
        })
    }
}
