//! A policy behind an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, llama.cpp's server, TGI, a hosted
//! API, ...), over `http://` or `https://`.
//!
//! The client is reqwest with rustls: the trusted roots are the webpki roots and the system's, plus a private CA
//! when one is given ([`OpenAiOptions::ca_cert`], else the environment variable [`CA_CERT_ENV`],
//! `SRL_CA_CERT`: a PEM file, one certificate or a bundle).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde_json::{Value, json};
use srl_core::SamplingParams;
use srl_core::text::error_chain;

use crate::error::AgentError;
use crate::policy::{AgentPolicy, PolicyError, PolicyReply, PolicyRequest, TokenUsage};

/// The environment variable naming a PEM file of extra trusted certificates (a private CA) when
/// [`OpenAiOptions::ca_cert`] is not set.
pub const CA_CERT_ENV: &str = "SRL_CA_CERT";

/// How to reach and sample the endpoint. `Default` (with `base_url` and `model` to fill in): greedy, 1024 tokens,
/// no API key, 300 s per request, 4 retries with backoff from 1 s doubling to at most 30 s, no extra CA.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiOptions {
    /// The API root, e.g. `http://127.0.0.1:8000/v1` or `https://host/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// The served model's name (the request's `model`).
    pub model: String,
    /// Name of the environment variable that holds the API key, sent as `Authorization: Bearer KEY`
    /// (`None`: no header). Read when the policy is built; an unset variable is an error then.
    pub api_key_env: Option<String>,
    /// Sent as the request's `temperature`, `top_p` (only when below 1) and `max_tokens` (`max_new_tokens`); the
    /// chat-completions API has no top-k, so `top_k` is not sent.
    pub sampling: SamplingParams,
    /// Sent as the request's `seed` (plus the call's turn index), for servers that honour it.
    pub seed: Option<u64>,
    /// Limit of one request, connection to last body byte.
    pub request_timeout: Duration,
    /// Retries after the first attempt, on 5xx / 408 / 429, timeouts, connection errors and unparsable replies.
    pub max_retries: usize,
    /// Delay before the first retry; doubled before each further one, up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A PEM file of certificates to trust besides the webpki and system roots (a private CA of an `https://`
    /// endpoint). `None`: the file the environment variable `SRL_CA_CERT` names, if set.
    pub ca_cert: Option<PathBuf>,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        OpenAiOptions {
            base_url: String::new(),
            model: String::new(),
            api_key_env: None,
            sampling: SamplingParams::greedy(1024),
            seed: None,
            request_timeout: Duration::from_secs(300),
            max_retries: 4,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            ca_cert: None,
        }
    }
}

/// The chat-completions policy. Token counts come from the reply's `usage` when present. A reply whose
/// reasoning was split off by the server (`reasoning_content` / `reasoning`, as vLLM's reasoning parsers do) gets
/// it back inside `<think>...</think>` before the content.
#[derive(Clone, Debug)]
pub struct OpenAiPolicy {
    options: OpenAiOptions,
    url: reqwest::Url,
    api_key: Option<String>,
    client: reqwest::Client,
}

/// What one attempt came to.
enum Attempt {
    Done(PolicyReply),
    /// Worth another try (server error, timeout, connection, unparsable reply).
    Retry(String),
    /// Will not get better (a client error such as 400 or 401).
    Fail(String),
}

/// The extra trusted certificates: `ca_cert`, else the file `SRL_CA_CERT` names.
fn extra_roots(ca_cert: Option<&Path>) -> Result<Vec<reqwest::Certificate>, AgentError> {
    let from_env = std::env::var_os(CA_CERT_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    let Some(path) = ca_cert.map(Path::to_path_buf).or(from_env) else { return Ok(Vec::new()) };
    let pem = std::fs::read(&path).map_err(|source| AgentError::Io { path: path.clone(), source })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        AgentError::Spec(format!("{}: not a PEM certificate file: {}", path.display(), error_chain(&e)))
    })?;
    if certs.is_empty() {
        return Err(AgentError::Spec(format!("{}: no certificate in it", path.display())));
    }
    tracing::debug!(file = %path.display(), n = certs.len(), "extra trusted certificates");
    Ok(certs)
}

impl OpenAiPolicy {
    pub fn new(options: OpenAiOptions) -> Result<Self, AgentError> {
        let base = options.base_url.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(AgentError::Spec(format!("{base:?} is not an http:// or https:// URL")));
        }
        let url = reqwest::Url::parse(&format!("{base}/chat/completions"))
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
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        for cert in extra_roots(options.ca_cert.as_deref())? {
            builder = builder.add_root_certificate(cert);
        }
        let client =
            builder.build().map_err(|e| AgentError::Spec(format!("building the HTTP client: {}", error_chain(&e))))?;
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
            "temperature": o.sampling.temperature,
            "max_tokens": o.sampling.max_new_tokens,
            "stream": false,
        });
        if o.sampling.top_p < 1.0 {
            body["top_p"] = json!(o.sampling.top_p);
        }
        if let Some(s) = o.seed {
            body["seed"] = json!(s.wrapping_add(request.turn as u64));
        }
        if !request.prefill.is_empty() {
            // The prefill as a final assistant message the server continues (vLLM's and SGLang's
            // `continue_final_message`; a server without it answers a fresh turn, which the reply check below
            // still prefixes with the prefill).
            if let Some(m) = body["messages"].as_array_mut() {
                m.push(json!({"role": "assistant", "content": request.prefill}));
            }
            body["continue_final_message"] = json!(true);
            body["add_generation_prompt"] = json!(false);
        }
        body
    }

    async fn attempt(&self, body: &[u8]) -> Attempt {
        let mut req = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body.to_vec());
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let exchange = async {
            let resp = req.send().await.map_err(|e| format!("connection: {}", error_chain(&e)))?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|e| format!("reading the reply: {}", error_chain(&e)))?;
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
        let body = self.body(&request).to_string().into_bytes();
        let prefill = request.prefill;
        Box::pin(async move {
            let url = self.url.to_string();
            let attempts = self.options.max_retries + 1;
            let mut last = String::new();
            for n in 1..=attempts {
                match self.attempt(&body).await {
                    Attempt::Done(r) => return Ok(with_prefill(r, prefill)),
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

/// The reply as the whole assistant turn: a server that continued the prefill answers with what follows it, so
/// the prefill goes in front (a server that echoes it is left as is).
fn with_prefill(mut r: PolicyReply, prefill: &str) -> PolicyReply {
    if !r.text.starts_with(prefill) {
        r.text.insert_str(0, prefill);
    }
    r
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
        let p = OpenAiPolicy::new(o("https://x/v1")).unwrap();
        assert_eq!(p.url.to_string(), "https://x/v1/chat/completions");
        assert!(OpenAiPolicy::new(o("ftp://x")).unwrap_err().to_string().contains("not an http:// or https:// URL"));
        let p = OpenAiPolicy::new(o("http://127.0.0.1:8000/v1/")).unwrap();
        assert_eq!(p.url.to_string(), "http://127.0.0.1:8000/v1/chat/completions");
        let no_model = OpenAiOptions { model: " ".into(), ..o("http://h/v1") };
        assert!(OpenAiPolicy::new(no_model).unwrap_err().to_string().contains("--model"));
        let key = OpenAiOptions { api_key_env: Some("SRL_AGENT_TEST_UNSET_KEY".into()), ..o("http://h/v1") };
        assert!(OpenAiPolicy::new(key).unwrap_err().to_string().contains("SRL_AGENT_TEST_UNSET_KEY"));
    }

    #[test]
    fn a_prefill_is_continued_and_starts_the_reply() {
        let o = OpenAiOptions { base_url: "http://h/v1".into(), model: "m".into(), ..Default::default() };
        let p = OpenAiPolicy::new(o).unwrap();
        let messages = [srl_core::Message::user("u")];
        let b = p.body(&PolicyRequest { instance_id: "i", turn: 0, messages: &messages, prefill: "<think>\n" });
        assert_eq!(b["messages"][1], json!({"role": "assistant", "content": "<think>\n"}));
        assert_eq!(
            (b["continue_final_message"].as_bool(), b["add_generation_prompt"].as_bool()),
            (Some(true), Some(false))
        );
        let b = p.body(&PolicyRequest { instance_id: "i", turn: 0, messages: &messages, prefill: "" });
        assert!(b["messages"].as_array().unwrap().len() == 1 && b.get("continue_final_message").is_none());
        let reply = |t: &str| PolicyReply { text: t.into(), usage: TokenUsage::default() };
        assert_eq!(with_prefill(reply("why\n</think>\nX"), "<think>\n").text, "<think>\nwhy\n</think>\nX");
        assert_eq!(with_prefill(reply("<think>\nwhy"), "<think>\n").text, "<think>\nwhy");
    }

    #[test]
    fn sampling_goes_into_the_body() {
        let sampling = SamplingParams { temperature: 0.7, top_p: 0.9, top_k: 20, max_new_tokens: 64 };
        let o = OpenAiOptions {
            base_url: "http://h/v1".into(),
            model: "m".into(),
            sampling,
            seed: Some(2),
            ..Default::default()
        };
        let p = OpenAiPolicy::new(o).unwrap();
        let messages = [srl_core::Message::user("u")];
        let b = p.body(&PolicyRequest { instance_id: "i", turn: 3, messages: &messages, prefill: "" });
        assert_eq!((b["temperature"].as_f64(), b["top_p"].as_f64()), (Some(0.7), Some(0.9)));
        assert_eq!((b["max_tokens"].as_u64(), b["seed"].as_u64()), (Some(64), Some(5)));
        assert!(b.get("top_k").is_none(), "the chat-completions API has no top_k");
        let p = OpenAiPolicy::new(OpenAiOptions {
            base_url: "http://h/v1".into(),
            model: "m".into(),
            ..Default::default()
        })
        .unwrap();
        let b = p.body(&PolicyRequest { instance_id: "i", turn: 0, messages: &messages, prefill: "" });
        assert!(b.get("top_p").is_none() && b.get("seed").is_none(), "{b}");
        assert_eq!((b["temperature"].as_f64(), b["max_tokens"].as_u64()), (Some(0.0), Some(1024)));
    }

    #[test]
    fn private_cas_are_read_or_named() {
        let d = tempfile::tempdir().unwrap();
        let bad = d.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let o = |ca: &Path| OpenAiOptions {
            base_url: "https://h/v1".into(),
            model: "m".into(),
            ca_cert: Some(ca.to_path_buf()),
            ..Default::default()
        };
        let e = OpenAiPolicy::new(o(&bad)).unwrap_err().to_string();
        assert!(e.contains("ca.pem"), "{e}");
        let e = OpenAiPolicy::new(o(&d.path().join("missing.pem"))).unwrap_err().to_string();
        assert!(e.contains("missing.pem"), "{e}");
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
