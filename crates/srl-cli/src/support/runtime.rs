//! The binary's one way of handling Ctrl-C, and the async runtime of the Docker commands.
//!
//! [`install_interrupt`] (called once by `main`) sets a process-wide stop flag on the first Ctrl-C and wakes
//! every [`block`]ed command; a second Ctrl-C removes this process's containers and exits with 130 at once.
//! Synchronous work (the trainer) polls [`stop_flag`] and returns at its next safe point (writing a
//! checkpoint); async work run by [`block`] is dropped, its containers removed, and the command ends with
//! [`Interrupted`] (exit code 130). Libraries never handle signals or exit.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use srl_sandbox::Sandbox;
use tokio::sync::Notify;

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
static WAKE: Notify = Notify::const_new();

/// The command was stopped by Ctrl-C (after cleaning up); `main` exits with 130.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// A command that ends with a given exit code (e.g. `sandbox run` passing its command's code through).
#[derive(Debug, thiserror::Error)]
#[error("exit code {0}")]
pub struct ExitWith(pub u8);

/// The flag the first Ctrl-C sets.
pub fn stop_flag() -> Arc<AtomicBool> {
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false))).clone()
}

/// Installs the Ctrl-C handler; a failure to install it is printed, not fatal.
pub fn install_interrupt() {
    let stop = stop_flag();
    let r = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            let n = srl_sandbox::cleanup_all();
            eprintln!("interrupted again: removed {n} container(s)");
            std::process::exit(130);
        }
        WAKE.notify_waiters();
    });
    if let Err(e) = r {
        eprintln!("warning: cannot install the Ctrl-C handler: {e}");
    }
}

/// Resolves once Ctrl-C has been pressed.
async fn interrupted() {
    let stop = stop_flag();
    loop {
        let woken = WAKE.notified();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        woken.await;
    }
}

/// Runs `fut` on a multi-threaded runtime. On Ctrl-C the future is dropped, every container this process
/// holds is removed, and the result is [`Interrupted`].
pub fn block<T>(fut: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        tokio::select! {
            r = fut => r,
            _ = interrupted() => {
                let n = srl_sandbox::cleanup_all();
                eprintln!("interrupted: removed {n} container(s)");
                Err(Interrupted.into())
            }
        }
    })
}

/// The local Docker engine.
pub async fn connect() -> anyhow::Result<Sandbox> {
    Sandbox::connect().await.context("connecting to Docker")
}
