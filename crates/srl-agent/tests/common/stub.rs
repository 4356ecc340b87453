//! A stub OpenAI-compatible server (hand-rolled HTTP/1.1 on 127.0.0.1, plain or behind TLS): request `i` gets
//! `replies[i]` (the last one repeats); every request is counted and kept.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use srl_agent::OpenAiOptions;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    /// Accept, read the request, never answer (until long after the client's timeout).
    Hang,
    BadJson,
    /// 200 with this assistant content and usage 7 + 3.
    Content(String),
}

/// Request `i` gets `replies[i]` (the last one repeats).
pub struct Stub {
    pub base_url: String,
    pub attempts: Arc<AtomicUsize>,
    /// (header block, body) of each request.
    pub requests: Arc<Mutex<Vec<(String, Value)>>>,
}

/// A plain HTTP/1.1 stub on 127.0.0.1 (`http://127.0.0.1:PORT/v1`).
pub async fn stub(replies: Vec<Reply>) -> Stub {
    listen(replies, None).await
}

/// The same stub behind TLS with `acceptor`'s certificate (`https://127.0.0.1:PORT/v1`). A client that refuses
/// the certificate never gets a request counted.
pub async fn tls_stub(replies: Vec<Reply>, acceptor: TlsAcceptor) -> Stub {
    listen(replies, Some(acceptor)).await
}

async fn listen(replies: Vec<Reply>, tls: Option<TlsAcceptor>) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (a, r) = (attempts.clone(), requests.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (a, r, replies, tls) = (a.clone(), r.clone(), replies.clone(), tls.clone());
            tokio::spawn(async move {
                let _ = match tls {
                    None => serve(sock, a, r, replies).await,
                    Some(acceptor) => match acceptor.accept(sock).await {
                        Ok(stream) => serve(stream, a, r, replies).await,
                        Err(_) => Ok(()),
                    },
                };
            });
        }
    });
    Stub { base_url: format!("{scheme}://{addr}/v1"), attempts, requests }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    attempts: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    replies: Vec<Reply>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: Value = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    let i = attempts.fetch_add(1, Ordering::SeqCst);
    requests.lock().unwrap().push((head, body));
    let reply = replies[i.min(replies.len() - 1)].clone();
    let (status, text) = match reply {
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return Ok(());
        }
        Reply::Status(s) => (s, format!("{{\"error\":\"status {s}\"}}")),
        Reply::BadJson => (200, "{\"choices\": [".to_string()),
        Reply::Content(c) => (
            200,
            json!({
                "id": "x", "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": c}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
            })
            .to_string(),
        ),
    };
    let resp = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

/// Options for the stub at `base_url`: model `stub-model`, `retries` retries, a 300 ms timeout, backoff 40 ms
/// doubling to at most 200 ms.
pub fn options(base_url: &str, retries: usize) -> OpenAiOptions {
    OpenAiOptions {
        base_url: base_url.into(),
        model: "stub-model".into(),
        max_retries: retries,
        request_timeout: Duration::from_millis(300),
        backoff_initial: Duration::from_millis(40),
        backoff_max: Duration::from_millis(200),
        ..Default::default()
    }
}
