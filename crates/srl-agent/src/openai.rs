//! A policy behind an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, llama.cpp's server, TGI, ...).
//!
//! The HTTP client is hyper 1 with hyper-util's pooled client over plain TCP: the workspace already builds that
//! stack for bollard (the Docker client), so this adds no crate and no TLS stack. Endpoints are local inference
//! servers (`http://127.0.0.1:8000/v1`); `https://` is refused with a clear error (put a local proxy in front
//! of a remote TLS endpoint).

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::error::AgentError;
use crate::policy::{AgentPolicy, PolicyError, PolicyReply, PolicyRequest, TokenUsage};

/// How to reach and sample the endpoint. `Default` (with `base_url` and `model` to fill in): temperature 0,
/// 1024 tokens, no API key, 300 s per request, 4 retries with backoff from 1 s doubling to at most 30 s.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiOptions {
    /// The API root, e.g. `http://127.0.0.1:8000/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// The served model's name (the request's `model`).
    pub model: String,
    /// Name of the environment variable that holds the API key, sent as `Authorization: Bearer KEY`
    /// (`None`: no header). Read when the policy is built; an unset variable is an error then.
    pub api_key_env: Option<String>,
    pub temperature: f64,
    /// `None`: the server's default.
    pub top_p: Option<f64>,
    /// The request's `max_tokens` (`None`: the server's default).
    pub max_tokens: Option<u64>,
    /// Sent as the request's `seed` (plus the call's turn index), for servers that honour it.
    pub seed: Option<u64>,
    /// Limit of one request, connection to last body byte.
    pub request_timeout: Duration,
    /// Retries after the first attempt, on 5xx / 408 / 429, timeouts, connection errors and unparsable replies.
    pub max_retries: usize,
    /// Delay before the first retry; doubled before each further one, up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        OpenAiOptions {
            base_url: String::new(),
            model: String::new(),
            api_key_env: None,
            temperature: 0.0,
            top_p: None,
            max_tokens: Some(1024),
            seed: None,
            request_timeout: Duration::from_secs(300),
            max_retries: 4,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// The chat-completions policy. Token counts come from the reply's `usage` when present. A reply whose
/// reasoning was split off by the server (`reasoning_content` / `reasoning`, as vLLM's reasoning parsers do) gets
/// it back inside `<think>...</think>` before the content.
#[derive(Clone, Debug)]
pub struct OpenAiPolicy {
    options: OpenAiOptions,
    url: Uri,
    api_key: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What one attempt came to.
enum Attempt {
    Done(PolicyReply),
    /// Worth another try (server error, timeout, connection, unparsable reply).
    Retry(String),
    /// Will not get better (a client error such as 400 or 401).
    Fail(String),
}

impl OpenAiPolicy {
    pub fn new(options: OpenAiOptions) -> Result<Self, AgentError> {
        let base = options.base_url.trim().trim_end_matches('/');
        if base.starts_with("https://") {
            return Err(AgentError::Spec(format!(
                "{base}: https is not supported (plain http only); put a local http proxy in front of it"
            )));
        }
        if !base.starts_with("http://") {
            return Err(AgentError::Spec(format!("{base:?} is not an http:// URL")));
        }
        let url: Uri = format!("{base}/chat/completions")
            .parse()
            .map_err(|e| AgentError::Spec(format!("{base:?} is not a valid URL: {e}")))?;
        if options.model.trim().is_empty() {
            return Err(AgentError::Spec(format!("{base}: the model name is required (--model NAME)")));
        }
        let api_key = match &options.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.trim().is_empty() => Some(k.trim().to_string()),
                _ => return Err(AgentError::Spec(format!("the API key variable {var} is not set"))),
            },
        };
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(OpenAiPolicy { options, url, api_key, client })
    }

    pub fn options(&self) -> &OpenAiOptions {
        &self.options
    }

    /// The request body for `request`.
    fn body(&self, request: &PolicyRequest<'_>) -> Value {
        let o = &self.options;
        let mut body = json!({
            "model": o.model,
            "messages": request.messages,
            "temperature": o.temperature,
            "stream": false,
        });
        if let Some(t) = o.max_tokens {
            body["max_tokens"] = json!(t);
        }
        if let Some(p) = o.top_p {
            body["top_p"] = json!(p);
        }
        if let Some(s) = o.seed {
            body["seed"] = json!(s.wrapping_add(request.turn as u64));
        }
        body
    }

    async fn attempt(&self, body: &Bytes) -> Attempt {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(k) = &self.api_key {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {k}"));
        }
        let req = match req.body(Full::new(body.clone())) {
            Ok(r) => r,
            Err(e) => return Attempt::Fail(format!("building the request: {e}")),
        };
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| format!("connection: {}", error_chain(&e)))?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the reply: {}", error_chain(&e)))?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        };
        let (status, bytes) = match tokio::time::timeout(self.options.request_timeout, exchange).await {
            Err(_) => return Attempt::Retry(format!("no reply within {:?}", self.options.request_timeout)),
            Ok(Err(e)) => return Attempt::Retry(e),
            Ok(Ok(x)) => x,
        };
        let text = String::from_utf8_lossy(&bytes);
        if !status.is_success() {
            let message = format!("HTTP {status}: {}", excerpt(&text));
            let retry = status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT;
            return if retry { Attempt::Retry(message) } else { Attempt::Fail(message) };
        }
        match parse_reply(&text) {
            Ok(r) => Attempt::Done(r),
            Err(e) => Attempt::Retry(format!("unparsable reply ({e}): {}", excerpt(&text))),
        }
    }

    /// The delay before retry `n` (1-based).
    fn backoff(&self, n: usize) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1) as u32).unwrap_or(u32::MAX);
        self.options.backoff_initial.saturating_mul(factor).min(self.options.backoff_max)
    }
}

impl AgentPolicy for OpenAiPolicy {
    fn model_name(&self) -> String {
        self.options.model.clone()
    }

    fn complete<'a>(&'a self, request: PolicyRequest<'a>) -> BoxFuture<'a, Result<PolicyReply, PolicyError>> {
        let body = Bytes::from(self.body(&request).to_string());
        Box::pin(async move {
            let url = self.url.to_string();
            let attempts = self.options.max_retries + 1;
            let mut last = String::new();
            for n in 1..=attempts {
                match self.attempt(&body).await {
                    Attempt::Done(r) => return Ok(r),
                    Attempt::Fail(message) => return Err(PolicyError::Http { url, attempts: n, message }),
                    Attempt::Retry(message) => {
                        if n < attempts {
                            let delay = self.backoff(n);
                            tracing::warn!(%url, attempt = n, error = %message, ?delay, "chat completion failed; retrying");
                            tokio::time::sleep(delay).await;
                        }
                        last = message;
                    }
                }
            }
            Err(PolicyError::Http { url, attempts, message: last })
        })
    }
}

/// The completion and token counts of a chat-completions reply.
fn parse_reply(text: &str) -> Result<PolicyReply, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let message =
        v.get("choices").and_then(|c| c.get(0)).and_then(|c| c.get("message")).ok_or("no choices[0].message")?;
    let content = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(_) => return Err("choices[0].message.content is not a string".into()),
    };
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|k| message.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let text = match reasoning {
        Some(r) if !content.contains("<think>") => format!("<think>\n{r}\n</think>\n{}", content.trim_start()),
        _ => content,
    };
    let count = |k: &str| v.get("usage").and_then(|u| u.get(k)).and_then(Value::as_u64);
    Ok(PolicyReply {
        text,
        usage: TokenUsage { prompt: count("prompt_tokens"), completion: count("completion_tokens") },
    })
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 300;
    let s = s.trim();
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// An error with its sources (hyper's own message is often just "client error (Connect)").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_with_usage_and_reasoning() {
        let r = parse_reply(
            r#"{"choices":[{"message":{"role":"assistant","content":"<think>a</think>\nX"}}],"usage":{"prompt_tokens":10,"completion_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(r.text, "<think>a</think>\nX");
        assert_eq!(r.usage, TokenUsage { prompt: Some(10), completion: Some(3) });
        let r = parse_reply(r#"{"choices":[{"message":{"content":"\nX","reasoning_content":" why "}}]}"#).unwrap();
        assert_eq!(r.text, "<think>\nwhy\n</think>\nX");
        assert_eq!(r.usage, TokenUsage::default());
        assert!(parse_reply("{").unwrap_err().starts_with("not JSON"));
        assert_eq!(parse_reply(r#"{"choices":[]}"#).unwrap_err(), "no choices[0].message");
    }

    #[test]
    fn urls_and_keys_are_checked() {
        let o = |url: &str| OpenAiOptions { base_url: url.into(), model: "m".into(), ..Default::default() };
        assert!(OpenAiPolicy::new(o("https://x/v1")).unwrap_err().to_string().contains("https is not supported"));
        assert!(OpenAiPolicy::new(o("ftp://x")).is_err());
        let p = OpenAiPolicy::new(o("http://127.0.0.1:8000/v1/")).unwrap();
        assert_eq!(p.url.to_string(), "http://127.0.0.1:8000/v1/chat/completions");
        let no_model = OpenAiOptions { model: " ".into(), ..o("http://h/v1") };
        assert!(OpenAiPolicy::new(no_model).unwrap_err().to_string().contains("--model"));
        let key = OpenAiOptions { api_key_env: Some("SRL_AGENT_TEST_UNSET_KEY".into()), ..o("http://h/v1") };
        assert!(OpenAiPolicy::new(key).unwrap_err().to_string().contains("SRL_AGENT_TEST_UNSET_KEY"));
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let p = OpenAiPolicy::new(OpenAiOptions {
            base_url: "http://h/v1".into(),
            model: "m".into(),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5),
            ..Default::default()
        })
        .unwrap();
        let d: Vec<u64> = (1..=5).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 5, 5]);
        assert_eq!(p.backoff(200), Duration::from_secs(5));
    }
}
