//! `bash -lc` in a container: timeout that kills the whole process group, output cap, exit code, duration.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use futures_util::StreamExt;

use crate::error::{Context, Result};

/// How to run one command. `Default`: 60 s timeout, 100 000-byte output cap, the container's working directory.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Wall-clock limit; on expiry the command's whole process group is killed (`None`: no limit).
    pub timeout: Option<Duration>,
    /// At most this many bytes of output are kept: the first half and the last half, with a marker in between.
    pub output_cap: usize,
    /// Working directory (`None`: the container's).
    pub workdir: Option<String>,
    /// Extra environment variables, `KEY=VALUE`.
    pub env: Vec<String>,
    /// Let processes the command started in the background outlive it (default false: when the command ends,
    /// whatever is left in its process group is killed, so a fork bomb or a forgotten server ends with it).
    pub keep_background: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            timeout: Some(Duration::from_secs(60)),
            output_cap: 100_000,
            workdir: None,
            env: Vec::new(),
            keep_background: false,
        }
    }
}

impl ExecOptions {
    /// The defaults with another timeout.
    pub fn with_timeout(timeout: Duration) -> Self {
        ExecOptions { timeout: Some(timeout), ..Default::default() }
    }
}

/// What a command did. A non-zero exit, a timeout and a truncated output are all normal results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit status of `bash -lc CMD`; `None` when it was killed on timeout (or the wrapper itself was killed).
    pub exit_code: Option<i64>,
    /// stdout and stderr interleaved as the command wrote them (`2>&1`), lossily decoded as UTF-8, capped.
    pub output: String,
    /// Wall-clock time from the exec request to the end of the command.
    pub duration: Duration,
    /// True when the timeout fired and the process group was killed.
    pub timed_out: bool,
    /// True when the output was longer than the cap and its middle was cut out.
    pub truncated: bool,
    /// How many bytes the command printed in all.
    pub total_bytes: u64,
}

impl ExecOutput {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Keep the first `cap/2` and the last `cap - cap/2` bytes of `bytes`, with a marker naming how many were cut.
pub fn truncate_bytes_middle(bytes: &[u8], cap: usize) -> (Vec<u8>, bool) {
    if bytes.len() <= cap {
        return (bytes.to_vec(), false);
    }
    let mut cb = CappedBuffer::new(cap);
    cb.push(bytes);
    (cb.finish(), true)
}

/// Head + tail ring buffer: memory is bounded by the cap whatever the command prints.
pub(crate) struct CappedBuffer {
    head_cap: usize,
    tail_cap: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl CappedBuffer {
    pub(crate) fn new(cap: usize) -> Self {
        let head_cap = cap / 2;
        CappedBuffer { head_cap, tail_cap: cap - head_cap, head: Vec::new(), tail: VecDeque::new(), total: 0 }
    }

    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.head.len() < self.head_cap {
            let n = (self.head_cap - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.len() >= self.tail_cap {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_cap..]);
        } else {
            let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
            self.tail.drain(..overflow);
            self.tail.extend(bytes);
        }
    }

    pub(crate) fn truncated(&self) -> bool {
        self.total > (self.head.len() + self.tail.len()) as u64
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        let omitted = self.total - (self.head.len() + self.tail.len()) as u64;
        let mut out = self.head;
        if omitted > 0 {
            out.extend_from_slice(format!("\n<response clipped: {omitted} bytes omitted>\n").as_bytes());
        }
        let (a, b) = self.tail.as_slices();
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        out
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn token() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{}{:x}{:x}", std::process::id(), t, n)
}

/// Raw output of an internal helper command (no timeout, no cap, no login shell).
#[derive(Debug, Default)]
pub(crate) struct RawOutput {
    pub exit_code: Option<i64>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl RawOutput {
    pub(crate) fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub(crate) fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Run `argv` as root in the container and collect stdout and stderr apart.
pub(crate) async fn exec_raw(docker: &Docker, id: &str, argv: &[&str], workdir: Option<&str>) -> Result<RawOutput> {
    let cfg = ExecConfig {
        cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        working_dir: workdir.map(str::to_string),
        ..Default::default()
    };
    let created = docker.create_exec(id, cfg).await.ctx(|| format!("create exec in {id}"))?;
    let mut out = RawOutput::default();
    if let StartExecResults::Attached { mut output, input } =
        docker.start_exec(&created.id, None).await.ctx(|| format!("start exec in {id}"))?
    {
        let _input = input;
        while let Some(item) = output.next().await {
            match item.ctx(|| format!("read exec output in {id}"))? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    out.stdout.extend_from_slice(&message)
                }
                LogOutput::StdErr { message } => out.stderr.extend_from_slice(&message),
                LogOutput::StdIn { .. } => {}
            }
        }
    }
    let inspect = docker.inspect_exec(&created.id).await.ctx(|| format!("inspect exec in {id}"))?;
    out.exit_code = inspect.exit_code;
    Ok(out)
}

/// Run `argv` detached (no attached streams: it does not queue behind a flooded output stream) and poll until it
/// ends; its exit code, `None` when it did not end within `wait`.
async fn exec_detached(docker: &Docker, id: &str, argv: &[&str], wait: Duration) -> Result<Option<i64>> {
    let cfg = ExecConfig { cmd: Some(argv.iter().map(|s| s.to_string()).collect()), ..Default::default() };
    let created = docker.create_exec(id, cfg).await.ctx(|| format!("create exec in {id}"))?;
    docker
        .start_exec(&created.id, Some(bollard::exec::StartExecOptions { detach: true, ..Default::default() }))
        .await
        .ctx(|| format!("start exec in {id}"))?;
    let end = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < end {
        let i = docker.inspect_exec(&created.id).await.ctx(|| format!("inspect exec in {id}"))?;
        if i.running == Some(false) {
            return Ok(i.exit_code);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(None)
}

/// The command line of a user command: a new session (so that its process group can be killed as one; the
/// killer finds the group leader by the token in its command line), stderr merged into stdout, an end sentinel
/// with the exit status (so that a background process that keeps stdout open does not hold the call), and, unless
/// `keep_background`, a `kill -9 0` of whatever the command left running in its group (fork bombs included).
fn wrap(tok: &str, keep_background: bool) -> String {
    let reap = if keep_background { "" } else { "kill -9 0 2>/dev/null; " };
    format!(
        "exec 2>/dev/null; bash -lc \"$1\" </dev/null 2>&1; rc=$?; [ $rc = 137 ] && echo Killed; \
         printf '\\n__SRL_DONE_{tok}_%d\\n' \"$rc\"; {reap}exit \"$rc\""
    )
}

/// Kill the process group of the command with token `tok`, from a second exec (bash builtins only, so that it
/// works at a pids limit). Retries while the container cannot even start the killer; returns false when it never
/// managed.
async fn kill_group(docker: &Docker, id: &str, tok: &str) -> bool {
    let script = format!(
        "for i in 1 2 3; do for d in /proc/[0-9]*; do p=${{d#/proc/}}; [ \"$p\" = \"$$\" ] && continue; \
         mapfile -d '' -t a < $d/cmdline 2>/dev/null || continue; \
         [[ \"${{a[*]}}\" == *{tok}* ]] && kill -9 -- -$p 2>/dev/null; done; done; exit 0"
    );
    for attempt in 0..20 {
        match exec_detached(docker, id, &["bash", "-c", &script], Duration::from_secs(10)).await {
            Ok(Some(0)) => return true,
            Ok(code) => tracing::debug!(attempt, ?code, "kill exec failed"),
            Err(e) => tracing::debug!(attempt, error = %e, "kill exec failed"),
        }
        tokio::time::sleep(Duration::from_millis(100 + 50 * attempt)).await;
    }
    false
}

/// The wrapper of the persistent runner: like [`wrap`], the token passed as `$2`, the working directory as `$3`.
const RUNNER_WRAP: &str = "exec 2>/dev/null; cd \"$3\" || cd /; bash -lc \"$1\" </dev/null 2>&1; rc=$?; [ $rc = 137 ] && echo Killed; \
     printf '\\n__SRL_DONE_%s_%d\\n' \"$2\" \"$rc\"; kill -9 0 2>/dev/null; exit \"$rc\"";

/// The runner: reads NUL-separated `token, workdir, command` records from stdin, runs each in its own session with
/// [`RUNNER_WRAP`] and prints an end marker after each (also after a killed one, to resynchronise).
const RUNNER: &str = "while IFS= read -r -d '' tok && IFS= read -r -d '' wd && IFS= read -r -d '' cmd; do \
     setsid -w bash -c \"$0\" srl \"$cmd\" \"$tok\" \"$wd\" 2>/dev/null; \
     printf '\\n__SRL_END_%s\\n' \"$tok\"; done";

/// A long-lived exec per container that runs commands without a Docker exec each (one pipe write instead).
pub(crate) struct Runner {
    output: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>> + Send>,
    >,
    input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runner")
    }
}

async fn start_runner(docker: &Docker, id: &str) -> Result<Runner> {
    let cfg = ExecConfig {
        cmd: Some(vec!["bash".into(), "-c".into(), RUNNER.into(), RUNNER_WRAP.into()]),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(false),
        ..Default::default()
    };
    let created = docker.create_exec(id, cfg).await.ctx(|| format!("create runner in {id}"))?;
    match docker.start_exec(&created.id, None).await.ctx(|| format!("start runner in {id}"))? {
        StartExecResults::Attached { output, input } => Ok(Runner { output, input }),
        StartExecResults::Detached => Err(crate::SandboxError::Other("runner started detached".into())),
    }
}

/// Run `cmd` through the container's runner (started on first use). `Ok(None)`: the runner could not be used (the
/// caller falls back to one exec per command); a runner that lost sync is dropped and restarted next time.
pub(crate) async fn exec_via_runner(
    docker: &Docker,
    id: &str,
    slot: &tokio::sync::Mutex<Option<Runner>>,
    workdir: &str,
    cmd: &str,
    opts: &ExecOptions,
) -> Result<Option<ExecOutput>> {
    use tokio::io::AsyncWriteExt;
    if cmd.contains('\0') || workdir.contains('\0') {
        return Ok(None);
    }
    let started = Instant::now();
    let mut guard = slot.lock().await;
    if guard.is_none() {
        *guard = Some(start_runner(docker, id).await?);
    }
    let Some(runner) = guard.as_mut() else { return Ok(None) };
    let tok = token();
    let record = format!("{tok}\0{workdir}\0{cmd}\0");
    if runner.input.write_all(record.as_bytes()).await.is_err() || runner.input.flush().await.is_err() {
        *guard = None;
        return Ok(None);
    }
    let sentinel = format!("\n__SRL_DONE_{tok}_");
    let end = format!("\n__SRL_END_{tok}\n");
    let cap = opts.output_cap.max(2 * (sentinel.len() + end.len()) + 64);
    let mut buf = CappedBuffer::new(cap);
    let mut recent: Vec<u8> = Vec::new();
    let mut timed_out = false;
    let mut ended = false;
    let mut deadline = opts.timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        let next = match deadline {
            Some(d) if tokio::time::Instant::now() >= d => None,
            Some(d) => tokio::time::timeout_at(d, runner.output.next()).await.ok().flatten(),
            None => runner.output.next().await,
        };
        let Some(item) = next else {
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) && !timed_out {
                // Timeout: kill the group, then read on (briefly) up to the end marker.
                timed_out = true;
                if !kill_group(docker, id, &tok).await {
                    break;
                }
                deadline = Some(tokio::time::Instant::now() + Duration::from_secs(10));
                continue;
            }
            break;
        };
        let Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) = item else {
            if item.is_err() {
                break;
            }
            continue;
        };
        if !timed_out {
            buf.push(&message);
        }
        recent.extend_from_slice(&message);
        let keep = 4 * (sentinel.len() + end.len()) + 64;
        if recent.len() > 2 * keep {
            recent.drain(..recent.len() - keep);
        }
        if rfind(&recent, end.as_bytes()).is_some() {
            ended = true;
            break;
        }
    }
    let sentinel_rc = find_sentinel(&recent, sentinel.as_bytes());
    if !ended {
        *guard = None; // out of sync: drop it (stdin closes, the runner exits)
    }
    drop(guard);
    let total_bytes = buf.total;
    let truncated = buf.truncated();
    let mut bytes = buf.finish();
    if let Some(pos) = rfind(&bytes, sentinel.as_bytes()).or_else(|| rfind(&bytes, end.as_bytes())) {
        bytes.truncate(pos);
    }
    Ok(Some(ExecOutput {
        exit_code: if timed_out { None } else { sentinel_rc },
        output: String::from_utf8_lossy(&bytes).into_owned(),
        duration: started.elapsed(),
        timed_out,
        truncated,
        total_bytes: total_bytes.saturating_sub((sentinel.len() + end.len() + 4) as u64),
    }))
}

/// Run `cmd` with `bash -lc` in the container (see [`ExecOptions`]).
pub(crate) async fn exec_command(
    docker: &Docker,
    id: &str,
    default_workdir: &str,
    cmd: &str,
    opts: &ExecOptions,
) -> Result<ExecOutput> {
    let started = Instant::now();
    let tok = token();
    let script = wrap(&tok, opts.keep_background);
    let cfg = ExecConfig {
        cmd: Some(vec!["setsid".into(), "-w".into(), "bash".into(), "-c".into(), script, "srl".into(), cmd.into()]),
        attach_stdout: Some(true),
        attach_stderr: Some(false), // only setsid's own complaints; the command's stderr is merged into stdout
        working_dir: Some(opts.workdir.clone().unwrap_or_else(|| default_workdir.to_string())),
        env: if opts.env.is_empty() { None } else { Some(opts.env.clone()) },
        ..Default::default()
    };
    let created = docker.create_exec(id, cfg).await.ctx(|| format!("create exec in {id}"))?;
    let sentinel = format!("\n__SRL_DONE_{tok}_");
    let cap = opts.output_cap.max(2 * sentinel.len() + 64);
    let mut buf = CappedBuffer::new(cap);
    let mut recent: Vec<u8> = Vec::new();
    let mut sentinel_rc: Option<i64> = None;
    let mut timed_out = false;
    let deadline = opts.timeout.map(|t| tokio::time::Instant::now() + t);
    let start = docker.start_exec(&created.id, None).await.ctx(|| format!("start exec in {id}"))?;
    if let StartExecResults::Attached { mut output, input } = start {
        // Both halves of the hijacked connection are dropped at the end of this block: the socket closes, so
        // the daemon stops copying a command that is still printing (otherwise it blocks, and the next exec with it).
        let _input = input;
        loop {
            let next = match deadline {
                // Checked first: a stream that is always ready (`yes`) would never let the timeout fire.
                Some(d) if tokio::time::Instant::now() >= d => {
                    timed_out = true;
                    break;
                }
                Some(d) => match tokio::time::timeout_at(d, output.next()).await {
                    Ok(n) => n,
                    Err(_) => {
                        timed_out = true;
                        break;
                    }
                },
                None => output.next().await,
            };
            let Some(item) = next else { break };
            let message = match item {
                Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message }) => {
                    message
                }
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "exec stream broke");
                    break;
                }
            };
            buf.push(&message);
            recent.extend_from_slice(&message);
            if recent.len() > 4 * sentinel.len() + 64 {
                recent.drain(..recent.len() - (2 * sentinel.len() + 32));
            }
            if let Some(rc) = find_sentinel(&recent, sentinel.as_bytes()) {
                sentinel_rc = Some(rc);
                break;
            }
        }
    }
    if timed_out {
        tracing::debug!(container = id, cmd, "timeout: killing the process group");
        if !kill_group(docker, id, &tok).await {
            tracing::warn!(container = id, "could not kill the process group: restarting the container");
            docker
                .restart_container(id, None::<bollard::query_parameters::RestartContainerOptions>)
                .await
                .ctx(|| format!("restart {id}"))?;
        }
    }
    let exit_code = match (timed_out, sentinel_rc) {
        (true, _) => None,
        (false, Some(rc)) => Some(rc),
        // No sentinel: the wrapper itself was killed (e.g. by the OOM killer); its exit status is unknown.
        (false, None) => None,
    };
    let total_bytes = buf.total;
    let truncated = buf.truncated();
    let mut bytes = buf.finish();
    if let Some(pos) = rfind(&bytes, sentinel.as_bytes()) {
        bytes.truncate(pos);
    }
    let total_bytes = total_bytes.saturating_sub(if sentinel_rc.is_some() { sentinel.len() as u64 + 4 } else { 0 });
    Ok(ExecOutput {
        exit_code,
        output: String::from_utf8_lossy(&bytes).into_owned(),
        duration: started.elapsed(),
        timed_out,
        truncated,
        total_bytes,
    })
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).rev().find(|&i| &hay[i..i + needle.len()] == needle)
}

/// The exit status after the sentinel, once its line is complete.
fn find_sentinel(recent: &[u8], sentinel: &[u8]) -> Option<i64> {
    let pos = rfind(recent, sentinel)?;
    let rest = &recent[pos + sentinel.len()..];
    let nl = rest.iter().position(|&b| b == b'\n')?;
    std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_buffer_keeps_head_and_tail() {
        let mut b = CappedBuffer::new(10);
        for chunk in [b"0123".as_slice(), b"456789", b"abcdefghij", b"XYZ"] {
            b.push(chunk);
        }
        assert!(b.truncated());
        let out = String::from_utf8(b.finish()).unwrap();
        assert_eq!(out, "01234\n<response clipped: 13 bytes omitted>\nijXYZ");
    }

    #[test]
    fn no_truncation_under_cap() {
        let (out, t) = truncate_bytes_middle(b"hello", 10);
        assert_eq!(out, b"hello");
        assert!(!t);
    }

    #[test]
    fn sentinel_parsing() {
        let s = b"\n__SRL_DONE_abc_";
        assert_eq!(find_sentinel(b"out\n__SRL_DONE_abc_3\n", s), Some(3));
        assert_eq!(find_sentinel(b"out\n__SRL_DONE_abc_3", s), None);
        assert_eq!(find_sentinel(b"out\n__SRL_DONE_abc_-1\nmore", s), Some(-1));
    }
}
