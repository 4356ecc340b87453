//! Several Docker engines as one pool: placement by free capacity, images made once per engine (moved from an
//! engine that has them, or built), and engines that stop answering taken out of the pool.
//!
//! A [`Lease`] is one slot on one engine; [`Hosts::acquire`] waits for a free slot on an engine that is up,
//! preferring engines that already hold the wanted image, then the least loaded. An engine is marked down when a
//! ping fails or two in a row go unanswered (a monitor pings every engine of a pool of two or more every
//! [`Hosts::PING_EVERY`], and [`Hosts::check`] pings on demand); [`Lease::lost`] resolves then, so work on a dead
//! engine never hangs. Down is final for the pool's life. The caller re-runs what was lost (`srl_eval::Harness::in_container`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::Notify;

use crate::error::{Result, SandboxError};
use crate::image::Progress;
use crate::sandbox::Sandbox;

/// Bytes per piece handed to a load when an image moves between engines.
const BLOCK: usize = 1 << 20;

/// One engine to connect to: what `--docker-host` or a hosts file names.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// `local` (DOCKER_HOST or the local socket), `unix:///path`, `tcp://HOST:PORT` (`http://` alike) or
    /// `ssh://USER@HOST`.
    pub url: String,
    /// A short name for logs and reports (default: the url).
    #[serde(default)]
    pub name: Option<String>,
    /// Containers at once on this engine (default: the command's `--max-workers`).
    #[serde(default)]
    pub capacity: Option<usize>,
    /// TLS client files for a `tcp://` engine (as `docker --tlsverify`): relative paths are from the hosts file.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

/// The PEM files of a TLS connection to an engine.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsFile {
    #[serde(default)]
    host: Vec<HostSpec>,
}

impl HostSpec {
    /// An engine by url, default name and capacity.
    pub fn url(url: impl Into<String>) -> HostSpec {
        HostSpec { url: url.into(), name: None, capacity: None, tls: None }
    }

    /// The name it is reported under.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }

    /// The `[[host]]` entries of a TOML hosts file (`url`, optional `name`, `capacity`, `tls = { ca, cert, key }`);
    /// errors name the file and the entry.
    pub fn load_file(path: &Path) -> Result<Vec<HostSpec>> {
        let spec_err = |message: String| SandboxError::Spec { file: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| spec_err(e.to_string()))?;
        let file: HostsFile = toml::from_str(&text).map_err(|e| spec_err(e.to_string()))?;
        if file.host.is_empty() {
            return Err(spec_err("no [[host]] entries".into()));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for (i, mut h) in file.host.into_iter().enumerate() {
            if h.capacity == Some(0) {
                return Err(spec_err(format!("host {} ({}): capacity must be at least 1", i + 1, h.url)));
            }
            if !names.insert(h.display_name().to_string()) {
                return Err(spec_err(format!("host {}: the name {} is used twice", i + 1, h.display_name())));
            }
            if let Some(t) = &mut h.tls {
                for p in [&mut t.ca, &mut t.cert, &mut t.key] {
                    if p.is_relative() {
                        *p = base.join(&*p);
                    }
                }
            }
            out.push(h);
        }
        Ok(out)
    }
}

/// One engine of a pool.
#[derive(Debug)]
pub struct Host {
    pub name: String,
    pub sandbox: Sandbox,
    /// Containers at once.
    pub capacity: usize,
}

#[derive(Debug, Default)]
struct Slot {
    used: usize,
    down: Option<String>,
    /// Pings in a row that got no answer in time.
    misses: u32,
}

struct Inner {
    hosts: Vec<Host>,
    slots: Mutex<Vec<Slot>>,
    changed: Notify,
    /// (host index, image) pairs known to be present.
    images: Mutex<HashSet<(usize, String)>>,
    image_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    monitor: std::sync::Once,
    progress: Progress,
}

/// A pool of Docker engines (cheap to clone). See the module docs.
#[derive(Clone)]
pub struct Hosts {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.inner.hosts.iter().map(|h| h.name.as_str()).collect();
        f.debug_struct("Hosts").field("hosts", &names).finish()
    }
}

/// One engine alone, without a limit on containers (the caller bounds its concurrency).
impl From<Sandbox> for Hosts {
    fn from(sandbox: Sandbox) -> Hosts {
        Hosts::new(vec![Host { name: "local".into(), sandbox, capacity: usize::MAX }])
    }
}

/// A slot on one engine of a [`Hosts`] pool, freed when dropped.
pub struct Lease {
    hosts: Hosts,
    index: usize,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("host", &self.host().name).finish()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Ok(mut s) = self.hosts.inner.slots.lock() {
            s[self.index].used = s[self.index].used.saturating_sub(1);
        }
        self.hosts.inner.changed.notify_waiters();
    }
}

impl Lease {
    /// The engine this slot is on.
    pub fn host(&self) -> &Host {
        &self.hosts.inner.hosts[self.index]
    }

    /// Its index in the pool.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Resolves when the engine is marked down (never, while it is up).
    pub async fn lost(&self) {
        loop {
            let notified = self.hosts.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.hosts.down_reason(self.index).is_some() {
                return;
            }
            notified.await;
        }
    }
}

impl Hosts {
    /// How often the monitor of a pool of two or more engines pings each one.
    pub const PING_EVERY: Duration = Duration::from_secs(2);
    /// How long a ping may take before the engine counts as down.
    pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

    /// A pool of connected engines (at least one).
    pub fn new(hosts: Vec<Host>) -> Hosts {
        Hosts::with_progress(hosts, Arc::new(|_| {}))
    }

    fn with_progress(hosts: Vec<Host>, progress: Progress) -> Hosts {
        let slots = hosts.iter().map(|_| Slot::default()).collect();
        Hosts {
            inner: Arc::new(Inner {
                hosts,
                slots: Mutex::new(slots),
                changed: Notify::new(),
                images: Mutex::new(HashSet::new()),
                image_locks: Mutex::new(HashMap::new()),
                monitor: std::sync::Once::new(),
                progress,
            }),
        }
    }

    /// Connect to every engine of `specs` (capacity `default_capacity` where a spec gives none); all share one run
    /// id (`run_id`, else the first connection's). An engine that does not answer is an error naming it: a run
    /// starts with every engine it was given. `progress` sees image moves.
    pub async fn connect(
        specs: &[HostSpec],
        default_capacity: usize,
        run_id: Option<&str>,
        progress: Progress,
    ) -> Result<Hosts> {
        if specs.is_empty() {
            return Err(SandboxError::Other("no Docker host given".into()));
        }
        let mut hosts: Vec<Host> = Vec::with_capacity(specs.len());
        for spec in specs {
            let sandbox = Sandbox::connect_to(spec).await.map_err(|e| match (e, &spec.name) {
                (SandboxError::Unreachable(m), Some(name)) => {
                    SandboxError::Unreachable(format!("Docker host {name}, {m}"))
                }
                (e, _) => e,
            })?;
            let sandbox = match (run_id, hosts.first()) {
                (Some(r), _) => sandbox.with_run_id(r),
                (None, Some(h)) => sandbox.with_run_id(h.sandbox.run_id()),
                (None, None) => sandbox,
            };
            let name = spec.display_name().to_string();
            if hosts.iter().any(|h| h.name == name) {
                return Err(SandboxError::Other(format!("Docker host {name} is given twice")));
            }
            hosts.push(Host { name, sandbox, capacity: spec.capacity.unwrap_or(default_capacity).max(1) });
        }
        Ok(Hosts::with_progress(hosts, progress))
    }

    /// The engines, in the order given.
    pub fn hosts(&self) -> &[Host] {
        &self.inner.hosts
    }

    /// The first engine (the one a single-engine command uses).
    pub fn first(&self) -> &Host {
        &self.inner.hosts[0]
    }

    /// Containers at once over all engines (saturating).
    pub fn total_capacity(&self) -> usize {
        self.inner.hosts.iter().fold(0usize, |a, h| a.saturating_add(h.capacity))
    }

    /// Why engine `index` is down, if it is.
    pub fn down_reason(&self, index: usize) -> Option<String> {
        self.inner.slots.lock().ok().and_then(|s| s[index].down.clone())
    }

    /// Take engine `index` out of the pool (idempotent); waiters and [`Lease::lost`] wake.
    pub fn mark_down(&self, index: usize, why: &str) {
        let first = match self.inner.slots.lock() {
            Ok(mut s) if s[index].down.is_none() => {
                s[index].down = Some(why.to_string());
                true
            }
            _ => false,
        };
        if first {
            tracing::warn!(host = %self.inner.hosts[index].name, "Docker host down: {why}");
        }
        self.inner.changed.notify_waiters();
    }

    /// Ping engine `index` now. A failed ping marks it down; so does the second ping in a row without an answer
    /// within [`Hosts::PING_TIMEOUT`] (a busy engine may miss one). True while it is up.
    pub async fn check(&self, index: usize) -> bool {
        if self.down_reason(index).is_some() {
            return false;
        }
        let docker = self.inner.hosts[index].sandbox.docker();
        let answer = tokio::time::timeout(Self::PING_TIMEOUT, docker.ping()).await;
        let misses = match self.inner.slots.lock() {
            Ok(mut s) => {
                s[index].misses = if answer.is_err() { s[index].misses + 1 } else { 0 };
                s[index].misses
            }
            Err(_) => 0,
        };
        match answer {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                self.mark_down(index, &format!("ping failed: {e}"));
                false
            }
            Err(_) if misses >= 2 => {
                let why = format!("no answer to {misses} pings in a row within {:?} each", Self::PING_TIMEOUT);
                self.mark_down(index, &why);
                false
            }
            Err(_) => true,
        }
    }

    /// Start the monitor once (pools of two or more engines; needs a tokio runtime). It stops with the pool.
    fn start_monitor(&self) {
        if self.inner.hosts.len() < 2 {
            return;
        }
        self.inner.monitor.call_once(|| {
            let weak: Weak<Inner> = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Self::PING_EVERY).await;
                    let Some(inner) = weak.upgrade() else { return };
                    let pool = Hosts { inner };
                    let checks = (0..pool.inner.hosts.len()).map(|i| pool.check(i));
                    futures_util::future::join_all(checks).await;
                }
            });
        });
    }

    /// Wait for a free slot on an engine that is up, preferring engines known to hold `image`, then the least
    /// loaded. An error when every engine is down.
    pub async fn acquire(&self, image: Option<&str>) -> Result<Lease> {
        self.start_monitor();
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut slots =
                    self.inner.slots.lock().map_err(|_| SandboxError::Other("host pool poisoned".into()))?;
                if slots.iter().all(|s| s.down.is_some()) {
                    let why: Vec<String> = self
                        .inner
                        .hosts
                        .iter()
                        .zip(slots.iter())
                        .map(|(h, s)| format!("{}: {}", h.name, s.down.as_deref().unwrap_or("")))
                        .collect();
                    return Err(SandboxError::Unreachable(format!("every Docker host is down ({})", why.join("; "))));
                }
                let has = |i: usize| image.is_some_and(|im| self.knows(i, im));
                let best = (0..slots.len())
                    .filter(|&i| slots[i].down.is_none() && slots[i].used < self.inner.hosts[i].capacity)
                    .min_by(|&a, &b| {
                        let load = |i: usize| slots[i].used as f64 / self.inner.hosts[i].capacity as f64;
                        has(b).cmp(&has(a)).then(load(a).total_cmp(&load(b))).then(a.cmp(&b))
                    });
                if let Some(i) = best {
                    slots[i].used += 1;
                    return Ok(Lease { hosts: self.clone(), index: i });
                }
            }
            notified.await;
        }
    }

    fn knows(&self, index: usize, image: &str) -> bool {
        self.inner.images.lock().is_ok_and(|s| s.contains(&(index, image.to_string())))
    }

    fn learn(&self, index: usize, image: &str) {
        self.inner.images.lock().map(|mut s| s.insert((index, image.to_string()))).ok();
    }

    /// Forget that engine `index` holds `image` (it was removed): the next [`Hosts::ensure_image`] looks again.
    pub fn forget_image(&self, index: usize, image: &str) {
        self.inner.images.lock().map(|mut s| s.remove(&(index, image.to_string()))).ok();
    }

    async fn present(&self, index: usize, image: &str) -> bool {
        if self.knows(index, image) {
            return true;
        }
        let found = self.inner.hosts[index].sandbox.docker().inspect_image(image).await.is_ok();
        if found {
            self.learn(index, image);
        }
        found
    }

    /// Make sure engine `index` holds `image`: present already, else moved from another engine that is up and
    /// holds it (an image save streamed into a load: offline, and cheaper than a build), else `build` on it.
    /// One image is made once per engine at a time.
    pub async fn ensure_image<F>(&self, index: usize, image: &str, build: F) -> Result<()>
    where
        F: AsyncFnOnce(&Sandbox) -> Result<()>,
    {
        if self.knows(index, image) {
            return Ok(());
        }
        let lock = {
            let mut m =
                self.inner.image_locks.lock().map_err(|_| SandboxError::Other("image locks poisoned".into()))?;
            m.entry(image.to_string()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if self.present(index, image).await {
            return Ok(());
        }
        for from in 0..self.inner.hosts.len() {
            if from == index || self.down_reason(from).is_some() || !self.present(from, image).await {
                continue;
            }
            match self.transfer(from, index, image).await {
                Ok(()) => {
                    self.learn(index, image);
                    return Ok(());
                }
                Err(e) => tracing::warn!(image, from = %self.inner.hosts[from].name, "moving the image failed: {e}"),
            }
        }
        build(&self.inner.hosts[index].sandbox).await?;
        self.learn(index, image);
        Ok(())
    }

    /// Stream `image` from engine `from` into engine `to` (`docker save | docker load`), with progress lines.
    pub async fn transfer(&self, from: usize, to: usize, image: &str) -> Result<()> {
        let (src, dst) = (&self.inner.hosts[from], &self.inner.hosts[to]);
        let started = std::time::Instant::now();
        let say = |s: String| {
            tracing::info!("{s}");
            (self.inner.progress)(&s);
        };
        say(format!("moving {image} from {} to {}", src.name, dst.name));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let docker = src.sandbox.docker().clone();
        let name = image.to_string();
        let progress = self.inner.progress.clone();
        let label = format!("{image} to {}", dst.name);
        let export = tokio::spawn(async move {
            let mut stream = docker.export_image(&name);
            let (mut sent, mut next_report) = (0u64, 64u64 << 20);
            // The save stream comes in small pieces: the load gets them in 1 MiB blocks.
            let mut block = bytes::BytesMut::with_capacity(BLOCK);
            loop {
                let chunk = match stream.next().await {
                    Some(Ok(c)) => Some(c),
                    Some(Err(e)) => return Err(SandboxError::Docker { context: format!("save {name}"), source: e }),
                    None => None,
                };
                if let Some(c) = &chunk {
                    block.extend_from_slice(c);
                    sent += c.len() as u64;
                    if sent >= next_report {
                        progress(&format!("moving {label}: {} MiB", sent >> 20));
                        next_report += 64 << 20;
                    }
                }
                if (block.len() >= BLOCK || chunk.is_none()) && !block.is_empty() {
                    let full = std::mem::replace(&mut block, bytes::BytesMut::with_capacity(BLOCK));
                    if tx.send(full.freeze()).await.is_err() {
                        return Err(SandboxError::Other(format!("load of {name} stopped reading")));
                    }
                }
                if chunk.is_none() {
                    return Ok(sent);
                }
            }
        });
        let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let opts = bollard::query_parameters::ImportImageOptions { quiet: true, ..Default::default() };
        let mut load = dst.sandbox.docker().import_image_stream(opts, body, None);
        let mut load_err = None;
        while let Some(item) = load.next().await {
            if let Err(e) = item {
                load_err = Some(SandboxError::Docker { context: format!("load {image} into {}", dst.name), source: e });
                break;
            }
        }
        drop(load);
        let sent = export.await.map_err(|e| SandboxError::Other(format!("save task: {e}")))??;
        if let Some(e) = load_err {
            return Err(e);
        }
        if dst.sandbox.docker().inspect_image(image).await.is_err() {
            return Err(SandboxError::Other(format!("{image} is not on {} after the load", dst.name)));
        }
        say(format!("moved {image} to {} ({} MiB in {:.0?})", dst.name, sent >> 20, started.elapsed()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of engines that are never contacted (placement only).
    fn pool(capacities: &[usize]) -> Hosts {
        let hosts = capacities
            .iter()
            .enumerate()
            .map(|(i, &capacity)| {
                let docker = bollard::Docker::connect_with_http("tcp://127.0.0.1:9", 1, bollard::API_DEFAULT_VERSION);
                let sandbox = Sandbox { docker: docker.unwrap(), run_id: "t".into() };
                Host { name: format!("h{i}"), sandbox, capacity }
            })
            .collect();
        Hosts::new(hosts)
    }

    #[tokio::test]
    async fn placement_prefers_the_image_then_the_least_loaded_and_skips_down_engines() {
        let hosts = pool(&[2, 2, 1]);
        hosts.learn(1, "img");
        let a = hosts.acquire(Some("img")).await.unwrap();
        assert_eq!(a.index(), 1, "the engine holding the image first");
        let b = hosts.acquire(None).await.unwrap();
        assert_eq!(b.index(), 0, "then the least loaded (ties: the first)");
        let c = hosts.acquire(None).await.unwrap();
        assert_eq!(c.index(), 2, "h0 and h1 are half full, h2 empty");
        hosts.mark_down(1, "test");
        let d = hosts.acquire(Some("img")).await.unwrap();
        assert_eq!(d.index(), 0, "a down engine gets nothing, even holding the image");
        // Full (h0: 2 of 2, h2: 1 of 1): the next acquire waits until a lease goes.
        let waiting = tokio::spawn({
            let hosts = hosts.clone();
            async move { hosts.acquire(None).await.unwrap().index() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(c);
        assert_eq!(waiting.await.unwrap(), 2);
        drop((a, b, d));
    }

    #[tokio::test]
    async fn losing_every_engine_wakes_waiters_and_fails_acquire() {
        let hosts = pool(&[1, 1]);
        let a = hosts.acquire(None).await.unwrap();
        let b = hosts.acquire(None).await.unwrap();
        let waiting = tokio::spawn({
            let hosts = hosts.clone();
            async move { hosts.acquire(None).await.map(|l| l.index()) }
        });
        let lost = tokio::spawn({
            let hosts = hosts.clone();
            async move {
                let l = hosts.acquire(None).await;
                drop(l);
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        hosts.mark_down(0, "gone");
        tokio::time::timeout(Duration::from_secs(5), a.lost()).await.expect("lost() resolves when marked down");
        hosts.mark_down(1, "gone too");
        let e = waiting.await.unwrap().unwrap_err().to_string();
        assert!(e.contains("every Docker host is down") && e.contains("h0: gone") && e.contains("h1: gone too"), "{e}");
        lost.await.unwrap();
        drop(b);
    }

    #[tokio::test]
    async fn an_unreachable_engine_is_marked_down_by_a_check() {
        let hosts = pool(&[1, 1]);
        assert!(!hosts.check(0).await);
        assert!(hosts.down_reason(0).is_some_and(|r| r.contains("ping failed")));
        assert!(hosts.down_reason(1).is_none());
    }

    #[test]
    fn hosts_file_reads_entries_and_resolves_tls_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.toml");
        std::fs::write(
            &path,
            "[[host]]\nurl = \"local\"\ncapacity = 2\n\n[[host]]\nurl = \"tcp://10.0.0.2:2376\"\nname = \"b\"\n\
             tls = { ca = \"certs/ca.pem\", cert = \"certs/cert.pem\", key = \"/abs/key.pem\" }\n",
        )
        .unwrap();
        let hosts = HostSpec::load_file(&path).unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!((hosts[0].display_name(), hosts[0].capacity), ("local", Some(2)));
        assert_eq!((hosts[1].display_name(), hosts[1].capacity), ("b", None));
        let tls = hosts[1].tls.as_ref().unwrap();
        assert_eq!(tls.ca, dir.path().join("certs/ca.pem"));
        assert_eq!(tls.key, PathBuf::from("/abs/key.pem"));
    }

    #[test]
    fn hosts_file_errors_name_the_file_and_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.toml");
        let err = |text: &str| {
            std::fs::write(&path, text).unwrap();
            HostSpec::load_file(&path).unwrap_err().to_string()
        };
        let e = err("[[host]]\nurl = \"local\"\ncapacity = 0\n");
        assert!(e.contains("hosts.toml") && e.contains("host 1 (local): capacity must be at least 1"), "{e}");
        let e = err("[[host]]\nurl = \"local\"\n[[host]]\nurl = \"local\"\n");
        assert!(e.contains("host 2: the name local is used twice"), "{e}");
        let e = err("[[host]]\nurl = \"local\"\ncapacty = 3\n");
        assert!(e.contains("hosts.toml") && e.contains("capacty"), "{e}");
        assert!(err("").contains("no [[host]] entries"));
    }
}
