//! The policy interface of the loop: chat messages in, the raw completion text out.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use srl_core::Message;

/// One request to a policy: the rendered context of the next action.
#[derive(Clone, Copy, Debug)]
pub struct PolicyRequest<'a> {
    /// The instance being worked on (a scripted policy picks its trajectory by it).
    pub instance_id: &'a str,
    /// 0-based index of this call in the episode (format-error turns included). Sampled policies derive their
    /// seed from it, so an episode is reproducible; a scripted policy replays step `turn`.
    pub turn: usize,
    /// The context, as [`srl_core::render_prompt`] built it (plus the failed attempt after a format error).
    pub messages: &'a [Message],
    /// The start of the assistant turn ([`srl_core::PromptConfig::prefill`], `""` for none). A backend continues
    /// it, and its reply's text begins with it, so the loop parses the whole turn.
    pub prefill: &'a str,
}

/// Token counts of one call, when the backend knows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub prompt: Option<u64>,
    pub completion: Option<u64>,
}

/// What a policy answered: the raw completion (the loop parses it) and its token counts when known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyReply {
    pub text: String,
    pub usage: TokenUsage,
}

/// Why a policy produced no completion. The loop ends the episode with `policy_error` and this text.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The candle model failed (or its worker thread did).
    #[error("model: {0}")]
    Model(String),
    /// The HTTP endpoint failed after every retry, or answered with a client error.
    #[error("{url}: {message} ({attempts} attempt{s})", s = if *attempts == 1 { "" } else { "s" })]
    Http { url: String, attempts: usize, message: String },
    /// A scripted policy has nothing for this request.
    #[error("scripted policy: {0}")]
    Script(String),
    #[error("{0}")]
    Other(String),
}

/// A policy the agent loop can ask for the next action. Implementations: `CandlePolicy` (a local model;
/// the `candle` feature), [`crate::OpenAiPolicy`] (an OpenAI-compatible chat-completions endpoint), [`crate::ScriptedPolicy`]
/// (replays a trajectory). Build one from a spec string with [`crate::build_policy`].
pub trait AgentPolicy: Send + Sync {
    /// What SWE-bench's `model_name_or_path` should say for this policy.
    fn model_name(&self) -> String;

    /// The completion for `request`: `<think>...</think>` then one call, if the policy behaves.
    fn complete<'a>(&'a self, request: PolicyRequest<'a>) -> BoxFuture<'a, Result<PolicyReply, PolicyError>>;
}

impl<P: AgentPolicy + ?Sized> AgentPolicy for Box<P> {
    fn model_name(&self) -> String {
        (**self).model_name()
    }
    fn complete<'a>(&'a self, request: PolicyRequest<'a>) -> BoxFuture<'a, Result<PolicyReply, PolicyError>> {
        (**self).complete(request)
    }
}

impl<P: AgentPolicy + ?Sized> AgentPolicy for std::sync::Arc<P> {
    fn model_name(&self) -> String {
        (**self).model_name()
    }
    fn complete<'a>(&'a self, request: PolicyRequest<'a>) -> BoxFuture<'a, Result<PolicyReply, PolicyError>> {
        (**self).complete(request)
    }
}
