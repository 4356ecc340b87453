//! The connection to the Docker daemon, run identity, and garbage collection of leftovers.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};

use crate::error::{Context, Result, SandboxError};
use crate::hosts::HostSpec;

/// Label present (value `1`) on every container this crate creates.
pub const LABEL_ROOT: &str = "srl-swe";
/// Label: the run id of the [`Sandbox`] that created the container.
pub const LABEL_RUN: &str = "srl-swe.run";
/// Label: the SWE-bench instance id the container serves (empty when none).
pub const LABEL_INSTANCE: &str = "srl-swe.instance";
/// Label: `HOST:PID:STARTTIME` of the owning process, so that [`Sandbox::gc`] can tell a dead run from a live one.
pub const LABEL_PID: &str = "srl-swe.owner";

/// A connection to the Docker daemon plus the identity of this run (cheap to clone).
#[derive(Clone, Debug)]
pub struct Sandbox {
    pub(crate) docker: Docker,
    pub(crate) run_id: String,
}

/// What [`Sandbox::gc`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Ids (short) of the containers removed.
    pub removed: Vec<String>,
    /// How many labelled containers were left because their owner is alive (or on another host).
    pub kept: usize,
}

impl Sandbox {
    /// Connect with Docker's defaults (`DOCKER_HOST` or the local socket), negotiate the API version (the daemon
    /// may be older than bollard's default) and ping it. Fails with [`SandboxError::Unreachable`] when no daemon
    /// answers.
    pub async fn connect() -> Result<Sandbox> {
        let docker = Docker::connect_with_defaults().map_err(|e| SandboxError::Unreachable(e.to_string()))?;
        Sandbox::ready(docker).await
    }

    /// Connect to the engine `spec` names (see [`HostSpec::url`]; `tls` for a `tcp://` engine with client
    /// certificates), negotiate and ping as [`Sandbox::connect`] does.
    pub async fn connect_to(spec: &HostSpec) -> Result<Sandbox> {
        let url = spec.url.as_str();
        let unreachable = |e: bollard::errors::Error| SandboxError::Unreachable(format!("{url}: {e}"));
        let (timeout, version) = (120, bollard::API_DEFAULT_VERSION);
        let docker = match (url.split_once("://").map(|(s, _)| s), &spec.tls) {
            _ if url == "local" => Docker::connect_with_defaults().map_err(unreachable)?,
            (Some("unix"), None) => Docker::connect_with_unix(url, timeout, version).map_err(unreachable)?,
            (Some("tcp" | "http"), None) => Docker::connect_with_http(url, timeout, version).map_err(unreachable)?,
            (Some("tcp" | "https"), Some(t)) => {
                for (what, p) in [("ca", &t.ca), ("cert", &t.cert), ("key", &t.key)] {
                    if !p.is_file() {
                        return Err(SandboxError::Unreachable(format!("{url}: tls {what} {} is missing", p.display())));
                    }
                }
                Docker::connect_with_ssl(url, &t.key, &t.cert, &t.ca, timeout, version).map_err(unreachable)?
            }
            (Some("ssh"), None) => Docker::connect_with_ssh(url, timeout, version).map_err(unreachable)?,
            _ => {
                return Err(SandboxError::Unreachable(format!(
                    "{url}: expected `local`, unix:///PATH, tcp://HOST:PORT (tls only with tcp) or ssh://USER@HOST"
                )));
            }
        };
        Sandbox::ready(docker).await.map_err(|e| match e {
            SandboxError::Unreachable(m) => SandboxError::Unreachable(format!("{url}: {m}")),
            e => e,
        })
    }

    async fn ready(docker: Docker) -> Result<Sandbox> {
        let docker = tokio::time::timeout(std::time::Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| SandboxError::Unreachable("timed out negotiating the API version".into()))?
            .map_err(|e| SandboxError::Unreachable(e.to_string()))?;
        docker.ping().await.map_err(|e| SandboxError::Unreachable(e.to_string()))?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let run_id = format!("{}-{:x}", std::process::id(), nanos);
        Ok(Sandbox { docker, run_id })
    }

    /// For tests that need Docker: `None` when `SRL_SKIP_DOCKER=1` (the test returns early and says so), else a
    /// connected sandbox. An unreachable daemon panics with what to do, so a Docker test never passes by skipping
    /// by accident.
    pub async fn connect_for_test() -> Option<Sandbox> {
        if std::env::var("SRL_SKIP_DOCKER").is_ok_and(|v| v == "1") {
            eprintln!("SRL_SKIP_DOCKER=1: skipping a Docker test");
            return None;
        }
        match Sandbox::connect().await {
            Ok(s) => Some(s),
            Err(e) => panic!("Docker is unreachable ({e}); these tests need it. Set SRL_SKIP_DOCKER=1 to skip them."),
        }
    }

    /// The same connection with another run id (labels of the containers created through it).
    pub fn with_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = run_id.into();
        self
    }

    /// The run id stamped on containers ([`LABEL_RUN`]).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The underlying bollard client, for what this crate does not wrap.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Labelled containers (all states), optionally only those of one run.
    pub async fn list_containers(&self, run_id: Option<&str>) -> Result<Vec<bollard::models::ContainerSummary>> {
        let mut label = vec![format!("{LABEL_ROOT}=1")];
        if let Some(r) = run_id {
            label.push(format!("{LABEL_RUN}={r}"));
        }
        let filters: HashMap<String, Vec<String>> = HashMap::from([("label".to_string(), label)]);
        self.docker
            .list_containers(Some(ListContainersOptions { all: true, filters: Some(filters), ..Default::default() }))
            .await
            .ctx(|| "list containers".into())
    }

    /// Remove the labelled containers whose owning process is dead (same host, pid gone or reused); with `all`,
    /// every labelled container whatever its owner (do not run that while other runs are live).
    pub async fn gc(&self, all: bool) -> Result<GcReport> {
        let mut report = GcReport::default();
        for c in self.list_containers(None).await? {
            let owner = c.labels.as_ref().and_then(|l| l.get(LABEL_PID)).cloned().unwrap_or_default();
            let id = c.id.clone().unwrap_or_default();
            if all || owner_is_dead(&owner) {
                match self
                    .docker
                    .remove_container(&id, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() }))
                    .await
                {
                    Ok(()) => report.removed.push(id.chars().take(12).collect()),
                    Err(e) => tracing::warn!(container = %id, error = %e, "gc: could not remove"),
                }
            } else {
                report.kept += 1;
            }
        }
        Ok(report)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Field 22 of /proc/PID/stat (start time in clock ticks since boot): tells a reused pid from the original.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19).map(str::to_string)
}

/// `HOST:PID:STARTTIME` of this process.
pub(crate) fn owner_label() -> String {
    let pid = std::process::id();
    format!("{}:{}:{}", hostname(), pid, start_time(pid).unwrap_or_default())
}

/// True when the owner label names a process on this host that no longer exists. Unparseable labels count as
/// dead; owners on other hosts as alive.
pub(crate) fn owner_is_dead(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return true;
    };
    if host != hostname() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else { return true };
    start_time(pid).is_none_or(|s| s != start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_garbage_is_dead() {
        assert!(!owner_is_dead(&owner_label()));
        assert!(owner_is_dead("garbage"));
        assert!(owner_is_dead(&format!("{}:999999999:1", hostname())));
        assert!(!owner_is_dead("some-other-host:1:1"));
    }
}
