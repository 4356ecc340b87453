//! The OpenAI-compatible backend against a local stub server (tests/common/stub.rs, HTTP/1.1 on 127.0.0.1):
//! retries with backoff on 5xx, hangs and bad JSON, then a clear error; client errors are not retried; a good
//! endpoint drives an episode to submit.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::stub::{Reply, options, stub};
use common::{FakeEnv, recorded, tasks};
use serde_json::json;
use srl_agent::{
    AgentConfig, AgentPolicy, ExitReason, OpenAiOptions, OpenAiPolicy, PolicyError, PolicyRequest, ScriptedPolicy,
    run_episode_in,
};
use srl_core::Message;
use tokio::net::TcpListener;

async fn ask(p: &OpenAiPolicy) -> Result<srl_agent::PolicyReply, PolicyError> {
    let messages = [Message::system("s"), Message::user("u")];
    p.complete(PolicyRequest { instance_id: "i", turn: 0, messages: &messages, prefill: "" }).await
}

fn http_error(e: PolicyError) -> (usize, String) {
    match e {
        PolicyError::Http { attempts, message, .. } => (attempts, message),
        other => panic!("not an HTTP error: {other}"),
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_reported() {
    let s = stub(vec![Reply::Status(500)]).await;
    let p = OpenAiPolicy::new(options(&s.base_url, 2)).unwrap();
    let t = Instant::now();
    let e = ask(&p).await.unwrap_err();
    let text = e.to_string();
    let (attempts, message) = http_error(e);
    assert_eq!((attempts, s.attempts.load(Ordering::SeqCst)), (3, 3));
    assert!(message.starts_with("HTTP 500"), "{message}");
    assert!(text.contains("/v1/chat/completions") && text.ends_with("(3 attempts)"), "{text}");
    // Backoff 40 ms then 80 ms.
    assert!(t.elapsed() >= Duration::from_millis(120), "{:?}", t.elapsed());
}

#[tokio::test]
async fn hangs_past_the_timeout_are_retried_then_reported() {
    let s = stub(vec![Reply::Hang]).await;
    let p = OpenAiPolicy::new(options(&s.base_url, 1)).unwrap();
    let t = Instant::now();
    let (attempts, message) = http_error(ask(&p).await.unwrap_err());
    assert_eq!(attempts, 2);
    // The server counts a request once it has read it; give the second one a moment to be counted.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(s.attempts.load(Ordering::SeqCst), 2);
    assert!(message.starts_with("no reply within 300ms"), "{message}");
    assert!(t.elapsed() >= Duration::from_millis(640) && t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn bad_json_is_retried_then_reported() {
    let s = stub(vec![Reply::BadJson]).await;
    let p = OpenAiPolicy::new(options(&s.base_url, 3)).unwrap();
    let (attempts, message) = http_error(ask(&p).await.unwrap_err());
    assert_eq!((attempts, s.attempts.load(Ordering::SeqCst)), (4, 4));
    assert!(message.starts_with("unparsable reply (not JSON"), "{message}");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let s = stub(vec![Reply::Status(400)]).await;
    let p = OpenAiPolicy::new(options(&s.base_url, 3)).unwrap();
    let (attempts, message) = http_error(ask(&p).await.unwrap_err());
    assert_eq!((attempts, s.attempts.load(Ordering::SeqCst)), (1, 1));
    assert!(message.starts_with("HTTP 400") && message.contains("status 400"), "{message}");
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let p = OpenAiPolicy::new(options(&format!("http://{addr}/v1"), 1)).unwrap();
    let (attempts, message) = http_error(ask(&p).await.unwrap_err());
    assert_eq!(attempts, 2);
    assert!(message.starts_with("connection"), "{message}");
}

#[tokio::test]
async fn recovers_after_failures_and_sends_the_request_openai_expects() {
    let s =
        stub(vec![Reply::Status(503), Reply::Hang, Reply::BadJson, Reply::Content("<think>a</think>\nX".into())]).await;
    // cargo sets CARGO_PKG_NAME for the test process: a key variable without touching the environment.
    let o = OpenAiOptions { api_key_env: Some("CARGO_PKG_NAME".into()), seed: Some(5), ..options(&s.base_url, 3) };
    let p = OpenAiPolicy::new(o).unwrap();
    let r = ask(&p).await.unwrap();
    assert_eq!(r.text, "<think>a</think>\nX");
    assert_eq!((r.usage.prompt, r.usage.completion), (Some(7), Some(3)));
    assert_eq!(s.attempts.load(Ordering::SeqCst), 4);
    let reqs = s.requests.lock().unwrap();
    let (head, body) = &reqs[3];
    assert!(head.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains("authorization: bearer srl-agent"), "{head}");
    assert_eq!(body["model"], "stub-model");
    assert_eq!(body["messages"], json!([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]));
    assert_eq!(
        (body["temperature"].as_f64(), body["max_tokens"].as_u64(), body["seed"].as_u64()),
        (Some(0.0), Some(1024), Some(5))
    );
}

#[tokio::test]
async fn a_good_endpoint_drives_an_episode_to_submit() {
    // The stub answers with the expert's completions, in order; the fake environment replays the recorded
    // observations, so the episode reproduces the expert trajectory.
    let inst = tasks().instances.into_iter().find(|i| i.repo == "srl-swe/confparse").unwrap();
    let expert = recorded(&inst);
    let replies = expert.steps.iter().map(|s| Reply::Content(ScriptedPolicy::render_step(s))).collect();
    let s = stub(replies).await;
    let p = OpenAiPolicy::new(options(&s.base_url, 0)).unwrap();
    let env = FakeEnv::replaying(&expert);
    let ep = run_episode_in(&p, &env, &inst, &AgentConfig::default(), &mut |_| {}).await.unwrap();
    assert_eq!(ep.exit, ExitReason::Submitted);
    assert_eq!(ep.trajectory.steps, expert.steps);
    assert_eq!(ep.patch, expert.patch);
    let n = expert.steps.len() as u64;
    assert_eq!((ep.tokens.prompt, ep.tokens.completion, ep.tokens.estimated), (7 * n, 3 * n, false));
    assert_eq!(ep.trajectory.model.as_deref(), Some("stub-model"));
    // Each request carried the context the step builder would have built.
    let examples = srl_data::trajectory_examples(&expert, &AgentConfig::default().prompt);
    let reqs = s.requests.lock().unwrap();
    for (k, ex) in examples.iter().enumerate() {
        assert_eq!(reqs[k].1["messages"], serde_json::to_value(&ex.messages).unwrap(), "step {k}");
    }
}
