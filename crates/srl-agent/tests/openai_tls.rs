//! The OpenAI-compatible backend over https: a local TLS stub (tests/common/stub.rs behind tokio-rustls, with a
//! self-signed certificate for `localhost`/127.0.0.1 made here) replays the expert's completions and drives an
//! episode to submit once its certificate is trusted through `ca_cert`; without that trust the request fails with
//! an error that names the certificate.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::stub::{Reply, options, tls_stub};
use common::{FakeEnv, recorded, tasks};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use srl_agent::{AgentConfig, ExitReason, OpenAiOptions, OpenAiPolicy, PolicyError, ScriptedPolicy, run_episode_in};
use tokio_rustls::TlsAcceptor;

/// A self-signed certificate for `localhost` and 127.0.0.1: the server's acceptor, and the certificate as a PEM
/// file in `dir` (for the client to trust).
fn self_signed(dir: &std::path::Path) -> (TlsAcceptor, PathBuf) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let pem = dir.join("stub-ca.pem");
    std::fs::write(&pem, cert.pem()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    (TlsAcceptor::from(Arc::new(config)), pem)
}

#[tokio::test]
async fn an_https_endpoint_with_a_trusted_private_ca_drives_an_episode_to_submit() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, pem) = self_signed(dir.path());
    let inst = tasks().instances.into_iter().find(|i| i.repo == "srl-swe/confparse").unwrap();
    let expert = recorded(&inst);
    let replies = expert.steps.iter().map(|s| Reply::Content(ScriptedPolicy::render_step(s))).collect();
    let s = tls_stub(replies, acceptor).await;
    assert!(s.base_url.starts_with("https://127.0.0.1:"), "{}", s.base_url);
    let o = OpenAiOptions { ca_cert: Some(pem), ..options(&s.base_url, 0) };
    let p = OpenAiPolicy::new(o).unwrap();
    let env = FakeEnv::replaying(&expert);
    let ep = run_episode_in(&p, &env, &inst, &AgentConfig::default(), &mut |_| {}).await.unwrap();
    assert_eq!(ep.exit, ExitReason::Submitted, "{:?}", ep.exit);
    assert_eq!(ep.trajectory.steps, expert.steps);
    assert_eq!(ep.patch, expert.patch);
    let n = expert.steps.len();
    assert_eq!(s.attempts.load(Ordering::SeqCst), n);
    assert_eq!((ep.tokens.prompt, ep.tokens.completion), (7 * n as u64, 3 * n as u64));
    let reqs = s.requests.lock().unwrap();
    assert!(reqs[0].0.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"), "{}", reqs[0].0);
    assert_eq!(reqs[0].1["model"], "stub-model");
}

#[tokio::test]
async fn an_untrusted_certificate_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, _pem) = self_signed(dir.path());
    let s = tls_stub(vec![Reply::Content("<think>a</think>\nX".into())], acceptor).await;
    let p = OpenAiPolicy::new(options(&s.base_url, 0)).unwrap();
    let messages = [srl_core::Message::user("u")];
    let request = srl_agent::PolicyRequest { instance_id: "i", turn: 0, messages: &messages, prefill: "" };
    let e = srl_agent::AgentPolicy::complete(&p, request).await.unwrap_err();
    let PolicyError::Http { attempts, message, .. } = e else { panic!("not an HTTP error: {e}") };
    assert_eq!(attempts, 1);
    let lower = message.to_lowercase();
    assert!(lower.starts_with("connection") && lower.contains("certificate"), "{message}");
    assert_eq!(s.attempts.load(Ordering::SeqCst), 0, "no request got through");
}
