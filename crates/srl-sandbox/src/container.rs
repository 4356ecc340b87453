//! A labelled, limited container that removes itself.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, RemoveContainerOptions, UploadToContainerOptions,
};
use futures_util::TryStreamExt;

use crate::error::{Context, Result, SandboxError};
use crate::exec::{ExecOptions, ExecOutput, RawOutput, exec_command, exec_raw};
use crate::sandbox::{LABEL_INSTANCE, LABEL_PID, LABEL_ROOT, LABEL_RUN, Sandbox, owner_label};

/// How to create a container. `Default`: no network, 4 GiB memory (no swap), 2 CPUs, 512 processes, `/testbed`.
#[derive(Clone, Debug)]
pub struct ContainerOptions {
    /// Stamped as [`LABEL_INSTANCE`].
    pub instance_id: Option<String>,
    /// Extra labels (the crate's own labels are always added).
    pub labels: HashMap<String, String>,
    /// `false`: network mode `none` (only a loopback interface). `true`: Docker's default bridge.
    pub network: bool,
    /// Memory limit in bytes (swap is forbidden: memory+swap = memory). `None`: no limit.
    pub memory_bytes: Option<i64>,
    /// CPU limit in cores. `None`: no limit.
    pub cpus: Option<f64>,
    /// Maximum number of processes (fork bombs end here). `None`: no limit.
    pub pids: Option<i64>,
    /// Working directory of the container and the default of every exec.
    pub workdir: String,
    /// Environment variables, `KEY=VALUE`.
    pub env: Vec<String>,
    /// `false` (default): the container is tied to this process: its main process reads an attached stdin and
    /// exits when that connection closes (this process ended, even by `kill -9`), and Docker then removes it.
    /// `true`: it stays until removed (`gc` finds it when its owner is gone).
    pub outlive_process: bool,
}

impl Default for ContainerOptions {
    fn default() -> Self {
        ContainerOptions {
            instance_id: None,
            labels: HashMap::new(),
            network: false,
            memory_bytes: Some(4 << 30),
            cpus: Some(2.0),
            pids: Some(512),
            workdir: "/testbed".into(),
            env: Vec::new(),
            outlive_process: false,
        }
    }
}

/// Containers created by this process and not yet removed: what [`cleanup_all`] removes.
fn live() -> &'static Mutex<HashMap<String, Docker>> {
    static LIVE: OnceLock<Mutex<HashMap<String, Docker>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Remove, blocking, every container this process created and still holds (for a Ctrl-C handler, or the end of a
/// program that may have leaked guards). Returns how many were removed. Safe to call from inside or outside a
/// tokio runtime.
pub fn cleanup_all() -> usize {
    let all: Vec<(String, Docker)> = live().lock().map(|mut m| m.drain().collect()).unwrap_or_default();
    let n = all.len();
    if n > 0 {
        block_on_side(async move {
            for (id, docker) in all {
                force_remove(&docker, &id).await;
            }
        });
    }
    n
}

/// Remove a container, giving up after 10 s (an engine that stops answering must not hold a Drop or a Ctrl-C).
async fn force_remove(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
    match tokio::time::timeout(Duration::from_secs(10), docker.remove_container(id, Some(opts))).await {
        Ok(Ok(())) => tracing::debug!(container = id, "removed"),
        Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404 | 409, .. })) => {}
        Ok(Err(e)) => tracing::warn!(container = id, error = %e, "could not remove container"),
        Err(_) => tracing::warn!(container = id, "the engine did not answer a removal within 10 s"),
    }
}

/// The attached stdin of a container's main process: while it is open the container lives; when it closes (it is
/// dropped, or the process holding it ends, however it ends) the main process exits and Docker removes the
/// container (`auto_remove`).
/// (In a mutex only to be `Sync`: it is never touched, only held.)
struct Lifeline(#[allow(dead_code)] Mutex<bollard::container::AttachContainerResults>);

impl std::fmt::Debug for Lifeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lifeline")
    }
}

/// Lifelines of containers kept with [`Container::keep`]: they live until the process ends.
fn kept() -> &'static Mutex<Vec<Lifeline>> {
    static KEPT: OnceLock<Mutex<Vec<Lifeline>>> = OnceLock::new();
    KEPT.get_or_init(|| Mutex::new(Vec::new()))
}

/// The main process of a tied container: it ends when its stdin (the [`Lifeline`]) closes.
const TIED_MAIN: &str = "cat >/dev/null";

/// Run a future to completion on a fresh single-threaded runtime in a scoped thread (usable from Drop, inside or
/// outside a runtime).
fn block_on_side<F: std::future::Future<Output = ()> + Send>(fut: F) {
    std::thread::scope(|s| {
        s.spawn(|| match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt.block_on(fut),
            Err(e) => tracing::error!(error = %e, "no runtime to remove containers"),
        });
    });
}

/// A started container. Dropping it removes it (blocking briefly); [`Container::remove`] does so asynchronously.
/// The editor's undo history lives here, so one container is one agent session.
#[derive(Debug)]
pub struct Container {
    docker: Docker,
    id: String,
    image: String,
    workdir: String,
    removed: bool,
    lifeline: Option<Lifeline>,
    pub(crate) tools: Mutex<ToolState>,
    runner: tokio::sync::Mutex<Option<crate::exec::Runner>>,
}

/// Type and metadata of a path in the container (symlinks resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// The resolved absolute path.
    pub real_path: String,
    pub kind: FileKind,
    /// Permission bits (e.g. `0o644`) of a regular file.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// What a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Other,
    Missing,
}

impl Container {
    /// Create and start a container of `image` (its main process waits; work happens through exec) with the
    /// crate's labels and `opts`' limits. Unless [`ContainerOptions::outlive_process`], it is tied to this process
    /// (see there), attached before it starts: once started, no end of this process leaves it behind. A process
    /// killed between the create and the start leaves a created container that never ran (`gc` removes it).
    pub async fn start(sandbox: &Sandbox, image: &str, opts: &ContainerOptions) -> Result<Container> {
        let docker = sandbox.docker.clone();
        let mut labels = opts.labels.clone();
        labels.insert(LABEL_ROOT.into(), "1".into());
        labels.insert(LABEL_RUN.into(), sandbox.run_id().into());
        labels.insert(LABEL_INSTANCE.into(), opts.instance_id.clone().unwrap_or_default());
        labels.insert(LABEL_PID.into(), owner_label());
        let host_config = HostConfig {
            network_mode: Some(if opts.network { "bridge".into() } else { "none".into() }),
            memory: opts.memory_bytes,
            memory_swap: opts.memory_bytes,
            nano_cpus: opts.cpus.map(|c| (c * 1e9) as i64),
            pids_limit: opts.pids,
            init: Some(true),
            auto_remove: Some(!opts.outlive_process),
            ..Default::default()
        };
        let tied = !opts.outlive_process;
        let main: Vec<String> = if tied {
            vec!["sh".into(), "-c".into(), TIED_MAIN.into()]
        } else {
            vec!["sleep".into(), "infinity".into()]
        };
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(main),
            open_stdin: Some(tied),
            stdin_once: Some(tied),
            attach_stdin: Some(tied),
            entrypoint: Some(vec![]),
            working_dir: Some(opts.workdir.clone()),
            env: if opts.env.is_empty() { None } else { Some(opts.env.clone()) },
            labels: Some(labels),
            network_disabled: Some(!opts.network),
            host_config: Some(host_config),
            ..Default::default()
        };
        let created = docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .ctx(|| format!("create a container of {image}"))?;
        let id = created.id;
        live().lock().map(|mut m| m.insert(id.clone(), docker.clone())).ok();
        let mut container = Container {
            docker: docker.clone(),
            id: id.clone(),
            image: image.to_string(),
            workdir: opts.workdir.clone(),
            removed: false,
            lifeline: None,
            tools: Mutex::new(ToolState::default()),
            runner: tokio::sync::Mutex::new(None),
        };
        if tied {
            let attach =
                bollard::query_parameters::AttachContainerOptions { stdin: true, stream: true, ..Default::default() };
            let line = docker
                .attach_container(&id, Some(attach))
                .await
                .ctx(|| format!("attach to container {id} of {image}"))?;
            container.lifeline = Some(Lifeline(Mutex::new(line)));
        }
        docker
            .start_container(&id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .ctx(|| format!("start container {id} of {image}"))?;
        tracing::debug!(container = %id, image, "started");
        Ok(container)
    }

    /// The full container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The image it was created from.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The default working directory.
    pub fn workdir(&self) -> &str {
        &self.workdir
    }

    /// Run `cmd` with `bash -lc` (see [`ExecOptions`] and [`ExecOutput`]).
    ///
    /// Commands run through a persistent runner process in the container (one pipe write, no Docker exec each)
    /// when `opts` has no extra environment and does not keep background processes; otherwise, or when the runner
    /// is unusable, through one Docker exec each. Both paths have the same semantics.
    pub async fn exec(&self, cmd: &str, opts: &ExecOptions) -> Result<ExecOutput> {
        if opts.env.is_empty() && !opts.keep_background {
            let wd = opts.workdir.as_deref().unwrap_or(&self.workdir);
            if let Some(out) = crate::exec::exec_via_runner(&self.docker, &self.id, &self.runner, wd, cmd, opts).await?
            {
                return Ok(out);
            }
        }
        exec_command(&self.docker, &self.id, &self.workdir, cmd, opts).await
    }

    /// Run an argv directly (no shell, no timeout, no cap): stdout and stderr apart. For internal helpers and
    /// tests.
    pub async fn exec_argv(&self, argv: &[&str]) -> Result<(Option<i64>, String, String)> {
        let o = exec_raw(&self.docker, &self.id, argv, Some(&self.workdir)).await?;
        Ok((o.exit_code, o.stdout_str(), o.stderr_str()))
    }

    pub(crate) async fn raw(&self, argv: &[&str]) -> Result<RawOutput> {
        exec_raw(&self.docker, &self.id, argv, Some(&self.workdir)).await
    }

    /// Type, mode and owner of `path` (symlinks resolved).
    pub async fn stat(&self, path: &str) -> Result<FileStat> {
        let script = r#"r=$(realpath -m -- "$1"); if [ -d "$r" ]; then t=d; elif [ -f "$r" ]; then t=f; elif [ -e "$r" ]; then t=o; else t=n; fi
printf '%s\n%s\n' "$t" "$r"; if [ "$t" = f ]; then stat -c '%a %u %g' -- "$r"; fi"#;
        let o = self.raw(&["bash", "-c", script, "stat", path]).await?;
        let out = o.stdout_str();
        let mut lines = out.lines();
        let kind = match lines.next() {
            Some("d") => FileKind::Dir,
            Some("f") => FileKind::File,
            Some("o") => FileKind::Other,
            Some("n") => FileKind::Missing,
            _ => return Err(SandboxError::Other(format!("stat {path} failed: {}", o.stderr_str()))),
        };
        let real_path = lines.next().unwrap_or(path).to_string();
        let (mut mode, mut uid, mut gid) = (0o644, 0, 0);
        if let Some(l) = lines.next() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() == 3 {
                mode = u32::from_str_radix(f[0], 8).unwrap_or(0o644);
                uid = f[1].parse().unwrap_or(0);
                gid = f[2].parse().unwrap_or(0);
            }
        }
        Ok(FileStat { real_path, kind, mode, uid, gid })
    }

    /// The bytes of a regular file (through Docker's archive endpoint, binary-safe).
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let tar_bytes: Vec<u8> = self
            .docker
            .download_from_container(&self.id, Some(DownloadFromContainerOptions { path: path.to_string() }))
            .map_ok(|b| b.to_vec())
            .try_concat()
            .await
            .ctx(|| format!("read {path}"))?;
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut entries = archive.entries().ctx(|| format!("untar {path}"))?;
        let mut entry = entries
            .next()
            .ok_or_else(|| SandboxError::Other(format!("empty archive for {path}")))?
            .ctx(|| format!("untar {path}"))?;
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).ctx(|| format!("untar {path}"))?;
        Ok(data)
    }

    /// Write a regular file (parents created), with the given mode and owner.
    pub async fn write_file_with(&self, path: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> Result<()> {
        let rel = path.trim_start_matches('/');
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_mtime(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs(),
        );
        header.set_entry_type(tar::EntryType::Regular);
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_data(&mut header, rel, data).ctx(|| format!("tar {path}"))?;
        let tar_bytes = builder.into_inner().ctx(|| format!("tar {path}"))?;
        self.upload_tar("/", tar_bytes).await
    }

    /// Write a regular file, keeping the mode and owner of an existing one (0644 root otherwise).
    pub async fn write_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let st = self.stat(path).await?;
        if st.kind == FileKind::File {
            self.write_file_with(&st.real_path, data, st.mode, st.uid, st.gid).await
        } else {
            self.write_file_with(path, data, 0o644, 0, 0).await
        }
    }

    /// Extract a tar archive at `dest` in the container.
    pub async fn upload_tar(&self, dest: &str, tar_bytes: Vec<u8>) -> Result<()> {
        self.docker
            .upload_to_container(
                &self.id,
                Some(UploadToContainerOptions { path: dest.to_string(), ..Default::default() }),
                bollard::body_full(tar_bytes.into()),
            )
            .await
            .ctx(|| format!("upload into {dest}"))
    }

    /// Remove the container now (idempotent).
    pub async fn remove(mut self) -> Result<()> {
        self.removed = true;
        live().lock().map(|mut m| m.remove(&self.id)).ok();
        let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match self.docker.remove_container(&self.id, Some(opts)).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            // Its removal is under way (Docker's own auto-remove won the race): wait until it is gone.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {
                let end = tokio::time::Instant::now() + Duration::from_secs(10);
                while tokio::time::Instant::now() < end {
                    let gone = self
                        .docker
                        .inspect_container(&self.id, None::<bollard::query_parameters::InspectContainerOptions>)
                        .await
                        .is_err();
                    if gone {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(SandboxError::Other(format!("container {} was still being removed after 10 s", self.id)))
            }
            Err(e) => Err(e).ctx(|| format!("remove container {}", self.id)),
        }
    }

    /// Keep the container after the guard goes (debugging): it stays labelled, so `gc` finds it later. A tied
    /// container (the default) still goes when this process ends; create it with
    /// [`ContainerOptions::outlive_process`] to keep it longer.
    pub fn keep(mut self) -> String {
        self.removed = true;
        live().lock().map(|mut m| m.remove(&self.id)).ok();
        if let Some(line) = self.lifeline.take() {
            kept().lock().map(|mut k| k.push(line)).ok();
        }
        std::mem::take(&mut self.id)
    }

    /// Commit the container's filesystem as `repo:tag` with Dockerfile-style `changes` (e.g. `WORKDIR /testbed`).
    pub(crate) async fn commit(
        &self,
        repo: &str,
        tag: &str,
        changes: &[String],
        labels: HashMap<String, String>,
    ) -> Result<()> {
        let opts = bollard::query_parameters::CommitContainerOptions {
            container: Some(self.id.clone()),
            repo: Some(repo.into()),
            tag: Some(tag.into()),
            pause: true,
            changes: if changes.is_empty() { None } else { Some(changes.join("\n")) },
            ..Default::default()
        };
        let config = bollard::models::ContainerConfig { labels: Some(labels), ..Default::default() };
        self.docker.commit_container(opts, config).await.ctx(|| format!("commit {repo}:{tag}"))?;
        Ok(())
    }

    /// Wait until `pred` holds for the container's state, for tests.
    #[doc(hidden)]
    pub async fn wait_running(&self, timeout: Duration) -> Result<bool> {
        let end = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < end {
            let i = self
                .docker
                .inspect_container(&self.id, None::<bollard::query_parameters::InspectContainerOptions>)
                .await
                .ctx(|| "inspect".into())?;
            if i.state.and_then(|s| s.running).unwrap_or(false) {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(false)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        live().lock().map(|mut m| m.remove(&self.id)).ok();
        let docker = self.docker.clone();
        let id = self.id.clone();
        block_on_side(async move { force_remove(&docker, &id).await });
    }
}
/// Per-container tool state and settings: the editor's undo history, allowed roots, the bash timeout.
#[derive(Clone, Debug)]
pub struct ToolState {
    /// Per-file stack of earlier contents (for `undo_edit`).
    pub history: HashMap<String, Vec<String>>,
    /// Paths the editor may touch (prefixes, after resolving symlinks and `..`). Default `/testbed`, `/tmp`.
    pub allowed_roots: Vec<String>,
    /// Options of `bash` calls.
    pub exec: ExecOptions,
    /// The commit `submit` diffs against (`None`: `HEAD` of /testbed).
    pub base_commit: Option<String>,
    /// Where `submit` also writes the patch in the container (`None`: nowhere).
    pub patch_path: Option<String>,
}

impl Default for ToolState {
    fn default() -> Self {
        ToolState {
            history: HashMap::new(),
            allowed_roots: vec!["/testbed".into(), "/tmp".into()],
            exec: ExecOptions::default(),
            base_commit: None,
            patch_path: None,
        }
    }
}
