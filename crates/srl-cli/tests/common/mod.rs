//! What every CLI test needs: the binary, the repository root, the shared data, and readers of its output.
//! Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (the bundled tasks, environments and docker recipes are found from there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// `SRL_SKIP_DOCKER=1` leaves the Docker tests out on a machine without Docker; they never pass by skipping
/// where a daemon answers.
pub fn skip_docker() -> bool {
    std::env::var("SRL_SKIP_DOCKER").is_ok_and(|v| v == "1")
}

/// The `srl-swe` binary, run from the repository root.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_srl-swe"));
    c.current_dir(root());
    c
}

/// Runs `srl-swe ARGS...` from the repository root.
pub fn srl(args: &[&str]) -> Output {
    bin().args(args).output().expect("srl-swe runs")
}

/// Runs `srl-swe ARGS...` with `input` on its standard input.
pub fn srl_stdin(args: &[&str], input: &str) -> Output {
    let mut child =
        bin().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The standard output of a run that must have succeeded (its stderr in the failure message).
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A file of `../shared/data/trajectories` (beside the checkout); missing shared data fails loudly.
pub fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/trajectories").join(rel);
    assert!(p.exists(), "the shared data is missing: expected {}", p.display());
    p
}

pub fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// The JSON lines of a file.
pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
