//! Where actions run: a small trait over the sandbox's tools, so the loop can be tested without Docker.

use std::time::Duration;

use futures_util::future::BoxFuture;
use srl_core::ToolCall;
use srl_sandbox::{Container, Observation};

/// What the loop needs from a sandbox. [`Container`] implements it with SWE-agent's tools
/// ([`Container::run_tool`]); tests use a fake. An `Err` is an infrastructure failure (the episode ends with
/// `sandbox_error`); a failing command or a refused edit is an [`Observation`].
pub trait Environment: Send + Sync {
    /// Run one call; a `bash` command gets at most `timeout`.
    fn run<'a>(&'a self, call: &'a ToolCall, timeout: Duration) -> BoxFuture<'a, Result<Observation, String>>;

    /// The patch of every change so far against the base commit (what `submit` would return), for the
    /// patch of an episode that ended without submitting.
    fn diff(&self) -> BoxFuture<'_, Result<String, String>>;

    /// A file's bytes (the oracle mode reads the files the gold patch touches).
    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>>;
}

impl Environment for Container {
    fn run<'a>(&'a self, call: &'a ToolCall, timeout: Duration) -> BoxFuture<'a, Result<Observation, String>> {
        Box::pin(async move {
            self.configure_tools(|t| t.exec.timeout = Some(timeout));
            self.run_tool(call).await.map_err(|e| format!("running {}: {e}", call.name()))
        })
    }

    fn diff(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let mut base = None;
            self.configure_tools(|t| base = t.base_commit.clone());
            self.submit_patch(base.as_deref()).await.map_err(|e| format!("diff against the base commit: {e}"))
        })
    }

    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move { Container::read_file(self, path).await.map_err(|e| format!("reading {path}: {e}")) })
    }
}
