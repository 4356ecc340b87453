//! The three image layers (base, environment, instance), each tagged by a hash of what built it: an unchanged
//! recipe is never rebuilt, a changed one always is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use srl_core::Instance;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::container::{Container, ContainerOptions};
use crate::error::{Context, Result, SandboxError};
use crate::exec::ExecOptions;
use crate::repo::{RepoSource, prepare_testbed, read_file_at, tar_testbed};
use crate::sandbox::Sandbox;
use crate::spec::{DebianSuite, EnvSpec};
use crate::wheels;

/// Bumped when the build procedure itself changes (all tags change with it).
const RECIPE_VERSION: &str = "srl-sandbox-images-v2";
/// Bumped when the making of a testbed changes (instance tags only: v2 keeps the tags up to the base, v3 prepares
/// tox's `--current-env` environments).
const TESTBED_VERSION: &str = "testbed-v3";
const VENV: &str = "/opt/venv";
const PATH_ENV: &str = "PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The environment's wheelhouse inside its images: pip installs from it and only from it (`PIP_NO_INDEX`), so the
/// eval script's re-run of the install command works offline too.
const WHEELS: &str = "/opt/srl-wheels";
/// Rounds of "install, find what pip was missing, download it on the host" before a build gives up.
const MAX_PIP_ROUNDS: usize = 40;
/// How long the host's `pip download` of a whole closure may resolve before the build takes each requirement
/// alone: pip's resolver can backtrack for tens of minutes over a loose `environment.yml` when only wheels of one
/// Python count (xarray's, measured: over 8 min of CPU without an answer).
const BULK_DOWNLOAD_LIMIT: Duration = Duration::from_secs(240);

/// The environment of every command of an env or instance build, and of the images made: the venv first on
/// `PATH`, pip offline on the wheelhouse.
fn build_env() -> Vec<String> {
    vec![
        PATH_ENV.to_string(),
        format!("VIRTUAL_ENV={VENV}"),
        "PIP_NO_INDEX=1".into(),
        format!("PIP_FIND_LINKS={WHEELS}"),
        "PIP_DISABLE_PIP_VERSION_CHECK=1".into(),
        "PIP_ROOT_USER_ACTION=ignore".into(),
        "DEBIAN_FRONTEND=noninteractive".into(),
    ]
}

/// A progress callback: one line of what a build is doing (the CLI shows it on a spinner).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// Where instance images come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// Built here, offline: base from debootstrap, env from a spec, instance from a local repository.
    Local,
    /// Pulled from a registry (needs internet): the name is `template` with `{id}` replaced by the instance id
    /// with `__` made `_1776_` (SWE-bench's Docker Hub spelling) and `{id_raw}` by the id as is.
    Swebench { template: String },
}

impl ImageSource {
    /// SWE-bench's published instance images on Docker Hub.
    pub const SWEBENCH_TEMPLATE: &'static str = "swebench/sweb.eval.x86_64.{id}:latest";

    /// The source of `kind` (`--image-source`); `template` is the image name template of
    /// [`ImageSourceKind::Swebench`] (`--image-template`, unused for local images).
    pub fn new(kind: ImageSourceKind, template: impl Into<String>) -> ImageSource {
        match kind {
            ImageSourceKind::Local => ImageSource::Local,
            ImageSourceKind::Swebench => ImageSource::Swebench { template: template.into() },
        }
    }

    /// Which kind of source this is.
    pub fn kind(&self) -> ImageSourceKind {
        match self {
            ImageSource::Local => ImageSourceKind::Local,
            ImageSource::Swebench { .. } => ImageSourceKind::Swebench,
        }
    }
}

srl_core::choice_enum! {
    /// Where instance images come from, as the user names it (`--image-source`); [`ImageSource::new`] adds the
    /// template of published images.
    #[derive(Default)]
    pub enum ImageSourceKind: "image source" {
        /// Built here, offline.
        #[default]
        Local = "local",
        /// SWE-bench's published images, pulled (needs internet).
        Swebench = "swebench",
    }
}

/// The published image name of an instance for a template (see [`ImageSource::Swebench`]).
pub fn swebench_image_name(template: &str, instance_id: &str) -> String {
    template.replace("{id_raw}", instance_id).replace("{id}", &instance_id.replace("__", "_1776_")).to_lowercase()
}

/// What an `ensure_*` call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildReport {
    /// `repo:tag` of the image.
    pub image: String,
    /// False when the image already existed (nothing was done).
    pub built: bool,
    pub duration: Duration,
}

/// The base recipe of one Debian suite: `docker/base/recipe.toml` + `setup.sh` + the `apt_packages` of the specs
/// built on that suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseRecipe {
    pub suite: String,
    pub variant: String,
    /// Sorted, deduplicated.
    pub packages: Vec<String>,
    pub setup_script: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeFile {
    suite: String,
    #[serde(default = "minbase")]
    variant: String,
    packages: Vec<String>,
}
fn minbase() -> String {
    "minbase".into()
}

/// Read the base recipe from `docker_dir/base` for `suite` (default: the recipe's `suite`) and add the Debian
/// packages one environment needs (its `apt_packages`): environments with the same suite and packages share a
/// base; one that needs TeX does not make every other one carry it.
pub fn base_recipe(docker_dir: &Path, suite: Option<&str>, apt_packages: &[String]) -> Result<BaseRecipe> {
    let file = docker_dir.join("base/recipe.toml");
    let text = std::fs::read_to_string(&file).ctx(|| format!("read {}", file.display()))?;
    let r: RecipeFile =
        toml::from_str(&text).map_err(|e| SandboxError::Spec { file: file.clone(), message: e.message().into() })?;
    let setup = docker_dir.join("base/setup.sh");
    let setup_script = std::fs::read_to_string(&setup).ctx(|| format!("read {}", setup.display()))?;
    let suite = suite.map(str::to_string).unwrap_or(r.suite);
    let mut packages: Vec<String> = r.packages;
    packages.extend(apt_packages.iter().cloned());
    packages.sort();
    packages.dedup();
    Ok(BaseRecipe { suite, variant: r.variant, packages, setup_script })
}

impl BaseRecipe {
    /// The image tag: a hash of the recipe (the mirror does not count).
    pub fn tag(&self) -> String {
        short_hash(&[RECIPE_VERSION, &self.suite, &self.variant, &self.packages.join(","), &self.setup_script])
    }

    /// The image name: `srl-swe/base.<suite>:<tag>`.
    pub fn image(&self) -> String {
        format!("srl-swe/base.{}:{}", docker_component(&self.suite), self.tag())
    }
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Lowercase, and anything outside `[a-z0-9._-]` made `-` (Docker repository name component).
fn docker_component(s: &str) -> String {
    s.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect()
}

/// The Debian mirror configured on this host (`SRL_DEBIAN_MIRROR` first, then apt's sources), for `suite`.
pub fn host_debian_mirror(suite: &str) -> String {
    if let Ok(m) = std::env::var("SRL_DEBIAN_MIRROR")
        && !m.is_empty()
    {
        return m;
    }
    let mut found: Option<String> = None;
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else { continue };
            if f.extension().is_some_and(|x| x == "sources") {
                for stanza in text.split("\n\n") {
                    let get = |k: &str| stanza.lines().find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()));
                    if let (Some(uris), Some(suites)) = (get("URIs:"), get("Suites:"))
                        && suites.split_whitespace().any(|s| s == suite)
                    {
                        found = found.or_else(|| uris.split_whitespace().next().map(str::to_string));
                    }
                }
            }
        }
    }
    if found.is_none()
        && let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list")
    {
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().filter(|w| !w.starts_with('[')).collect();
            if f.len() >= 3 && f[0] == "deb" && f[2] == suite {
                found = Some(f[1].to_string());
                break;
            }
        }
    }
    found.unwrap_or_else(|| "http://deb.debian.org/debian".into())
}

/// The default cache folder: `SRL_CACHE_DIR`, else `$XDG_CACHE_HOME/srl-swe`, else `~/.cache/srl-swe`.
pub fn default_cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("SRL_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Ok(d) = std::env::var("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("srl-swe");
    }
    std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/srl-swe")).unwrap_or_else(|_| "/tmp/srl-swe".into())
}

/// Builds (or finds) the images. Cheap to clone; concurrent calls for the same image wait for one build.
#[derive(Clone)]
pub struct ImageBuilder {
    sandbox: Sandbox,
    docker_dir: PathBuf,
    specs: Arc<Vec<EnvSpec>>,
    cache_dir: PathBuf,
    mirror: Option<String>,
    source: ImageSource,
    progress: Progress,
    locks: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Requirement-file installs that failed in this builder's life (key: env image and requirements), with the
    /// instance and error: instances with the same requirements fail at once rather than retrying for minutes.
    failed_reqs: Arc<std::sync::Mutex<HashMap<String, (String, String)>>>,
}

impl std::fmt::Debug for ImageBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageBuilder")
            .field("docker_dir", &self.docker_dir)
            .field("specs", &self.specs.len())
            .field("cache_dir", &self.cache_dir)
            .field("source", &self.source)
            .finish()
    }
}

impl ImageBuilder {
    /// A builder over the recipes in `docker_dir` (`docker/`) and the specs in `env_dir` (`environments/`), with
    /// the default cache folder (`default_cache_dir`: `$SRL_CACHE_DIR`, else the user cache folder), the host's
    /// mirror, local images and no progress output.
    pub fn new(sandbox: &Sandbox, docker_dir: &Path, env_dir: &Path) -> Result<ImageBuilder> {
        Ok(ImageBuilder {
            sandbox: sandbox.clone(),
            docker_dir: docker_dir.to_path_buf(),
            specs: Arc::new(EnvSpec::load_dir(env_dir)?),
            cache_dir: default_cache_dir(),
            mirror: None,
            source: ImageSource::Local,
            progress: Arc::new(|_| {}),
            locks: Default::default(),
            failed_reqs: Default::default(),
        })
    }

    /// The same builder making its images on another engine (recipes, specs, cache, progress and build locks
    /// shared: one image name is built once at a time, whichever the engine).
    pub fn on(&self, sandbox: &Sandbox) -> ImageBuilder {
        ImageBuilder { sandbox: sandbox.clone(), ..self.clone() }
    }

    /// The progress callback.
    pub fn progress_fn(&self) -> Progress {
        self.progress.clone()
    }

    /// Report progress lines to `f`.
    pub fn progress(mut self, f: Progress) -> Self {
        self.progress = f;
        self
    }

    /// Keep wheelhouses and temporary root filesystems under `dir`.
    pub fn cache_dir(mut self, dir: PathBuf) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Use this Debian mirror instead of the host's.
    pub fn mirror(mut self, url: impl Into<String>) -> Self {
        self.mirror = Some(url.into());
        self
    }

    /// Where instance images come from (default [`ImageSource::Local`]).
    pub fn source(mut self, source: ImageSource) -> Self {
        self.source = source;
        self
    }

    /// Where instance images come from.
    pub fn image_source(&self) -> &ImageSource {
        &self.source
    }

    /// The specs read from the environments folder.
    pub fn specs(&self) -> &[EnvSpec] {
        &self.specs
    }

    /// The spec serving `repo` at `version`.
    pub fn spec_for(&self, repo: &str, version: &str) -> Result<&EnvSpec> {
        EnvSpec::find(&self.specs, repo, version).ok_or_else(|| SandboxError::NoSpec {
            repo: repo.into(),
            version: version.into(),
            dir: self.specs.first().and_then(|s| s.path.parent().map(Path::to_path_buf)).unwrap_or_default(),
        })
    }

    fn say(&self, s: &str) {
        tracing::info!("{s}");
        (self.progress)(s);
    }

    async fn exists(&self, image: &str) -> bool {
        self.sandbox.docker.inspect_image(image).await.is_ok()
    }

    fn lock_for(&self, image: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(image.to_string()).or_default().clone()
    }

    /// The instance and error of an earlier failed requirement-file install with this key.
    fn failed_req(&self, key: &str) -> Option<(String, String)> {
        self.failed_reqs.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    /// Remember that the requirement-file install with this key failed for `instance` (see
    /// [`ImageBuilder::failed_req`]).
    fn fail_req(&self, key: &str, instance: &str, error: &SandboxError) {
        let mut m = self.failed_reqs.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(key.to_string()).or_insert_with(|| (instance.to_string(), error.to_string()));
    }

    /// The base image name (`srl-swe/base.<suite>:<hash>`) of the recipe's default suite.
    pub fn base_image(&self) -> Result<String> {
        Ok(base_recipe(&self.docker_dir, None, &[])?.image())
    }

    /// The base image name of the environment `spec`: its Debian suite, with its Debian packages.
    pub fn base_image_for(&self, spec: &EnvSpec) -> Result<String> {
        Ok(base_recipe(&self.docker_dir, Some(spec.debian_suite()?.name), &spec.apt_packages)?.image())
    }

    /// [`ImageBuilder::ensure_base`] for the suite of `spec`.
    pub async fn ensure_base_for(&self, spec: &EnvSpec) -> Result<BuildReport> {
        self.ensure_base_recipe(base_recipe(&self.docker_dir, Some(spec.debian_suite()?.name), &spec.apt_packages)?)
            .await
    }

    /// Make sure the base image of the recipe's default suite exists: debootstrap a root filesystem from the
    /// Debian mirror (root and `debootstrap` needed), run `setup.sh` in it, import it. A no-op when the tag exists.
    pub async fn ensure_base(&self) -> Result<BuildReport> {
        self.ensure_base_recipe(base_recipe(&self.docker_dir, None, &[])?).await
    }

    async fn ensure_base_recipe(&self, recipe: BaseRecipe) -> Result<BuildReport> {
        let started = Instant::now();
        let image = recipe.image();
        let lock = self.lock_for(&image);
        let _g = lock.lock().await;
        if self.exists(&image).await {
            return Ok(BuildReport { image, built: false, duration: started.elapsed() });
        }
        let mirror = self.mirror.clone().unwrap_or_else(|| host_debian_mirror(&recipe.suite));
        self.say(&format!("building {image}: debootstrap {} from {mirror}", recipe.suite));
        let debootstrap = ["/usr/sbin/debootstrap", "/sbin/debootstrap", "/usr/bin/debootstrap"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| {
                SandboxError::Build(
                    "debootstrap is not installed (apt-get install -y debootstrap); it builds the base image offline"
                        .into(),
                )
            })?;
        std::fs::create_dir_all(&self.cache_dir).ctx(|| format!("create {}", self.cache_dir.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix("rootfs-")
            .tempdir_in(&self.cache_dir)
            .ctx(|| format!("temp dir in {}", self.cache_dir.display()))?;
        let rootfs = tmp.path().join("rootfs");
        let mut cmd = tokio::process::Command::new(debootstrap);
        cmd.arg(format!("--variant={}", recipe.variant))
            .arg(format!("--include={}", recipe.packages.join(",")))
            .arg(&recipe.suite)
            .arg(&rootfs)
            .arg(&mirror);
        self.run_host(cmd, "debootstrap").await?;
        let setup = rootfs.join("tmp/srl-setup.sh");
        std::fs::write(&setup, &recipe.setup_script).ctx(|| "write setup.sh".into())?;
        let mut cmd = tokio::process::Command::new("chroot");
        cmd.arg(&rootfs).args(["/bin/sh", "/tmp/srl-setup.sh"]).env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        self.run_host(cmd, "setup.sh").await?;
        std::fs::remove_file(&setup).ok();
        self.say(&format!("importing {image}"));
        let mut tar = tokio::process::Command::new("tar")
            .args(["--numeric-owner", "-C"])
            .arg(&rootfs)
            .args(["-c", "."])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .ctx(|| "spawn tar".into())?;
        let stdout = tar.stdout.take().ok_or_else(|| SandboxError::Build("tar has no stdout".into()))?;
        let body = futures_util::stream::unfold(stdout, |mut r| async move {
            let mut buf = vec![0u8; 1 << 20];
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((bytes::Bytes::from(buf), r))
                }
            }
        });
        let (repo, tag) = image.split_once(':').unwrap_or((&image, "latest"));
        let opts = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo.into()),
            tag: Some(tag.into()),
            changes: vec![
                format!("ENV {PATH_ENV}"),
                "ENV LANG=C.UTF-8".into(),
                "WORKDIR /testbed".into(),
                r#"CMD ["sleep", "infinity"]"#.into(),
            ],
            ..Default::default()
        };
        let mut stream = self.sandbox.docker.create_image(Some(opts), Some(bollard::body_stream(body)), None);
        while let Some(item) = stream.next().await {
            item.ctx(|| format!("import {image}"))?;
        }
        let status = tar.wait().await.ctx(|| "tar".into())?;
        if !status.success() {
            return Err(SandboxError::Build(format!("tar of the root filesystem failed: {status}")));
        }
        self.say(&format!("built {image} in {:.0?}", started.elapsed()));
        Ok(BuildReport { image, built: true, duration: started.elapsed() })
    }

    /// Run a host command, streaming its output lines to the progress callback; the last lines go into the error.
    async fn run_host(&self, cmd: tokio::process::Command, what: &str) -> Result<()> {
        self.run_host_within(cmd, what, None).await
    }

    /// [`ImageBuilder::run_host`], stopped (killed) after `limit`.
    async fn run_host_within(&self, cmd: tokio::process::Command, what: &str, limit: Option<Duration>) -> Result<()> {
        run_logged(cmd, what, limit, &self.progress).await
    }

    /// The host folder of an environment's wheelhouse (`<cache>/wheelhouse/<python>-<hash>`): the spec's pins, what
    /// its requirement files and installs asked for, and the sdists among them.
    fn wheelhouse_dir(&self, spec: &EnvSpec, suite: &DebianSuite) -> PathBuf {
        let key = short_hash(&[RECIPE_VERSION, suite.name, &spec.name, &spec.content_hash()]);
        self.cache_dir.join("wheelhouse").join(format!("py{}-{key}", suite.python))
    }

    /// Download `reqs` for the Python and platform of `suite` into `dir` with `pip download` on the host: all of
    /// them and their dependencies as wheels when that works within [`BULK_DOWNLOAD_LIMIT`]; else each alone, its
    /// wheel, or else its sdist (built later inside the image; one that has neither is left for the image's pip to
    /// name), and then the closure of those that have wheels. Dependencies that this leaves out (an sdist's, for
    /// one) are found by [`ImageBuilder::pip_step`].
    ///
    /// `constraints` (pip's `-c`: the spec's pins) bound what the resolution may pick.
    async fn download(&self, dir: &Path, suite: &DebianSuite, reqs: &[String], constraints: &[String]) -> Result<()> {
        if reqs.is_empty() {
            return Ok(());
        }
        let lock = self.lock_for(&dir.display().to_string());
        let _g = lock.lock().await;
        std::fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
        let constraints_file = tempfile::NamedTempFile::new().ctx(|| "constraints file".into())?;
        std::fs::write(constraints_file.path(), constraints.join("\n") + "\n").ctx(|| "constraints file".into())?;
        let pip = |extra: &[&str], target: bool, reqs: &[String]| {
            let mut cmd = tokio::process::Command::new("python3");
            cmd.args(["-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off"]).args(extra);
            if !constraints.is_empty() {
                cmd.arg("-c").arg(constraints_file.path());
            }
            if target {
                cmd.args(wheels::target_args(suite));
            }
            cmd.arg("--dest").arg(dir).args(reqs);
            cmd
        };
        self.say(&format!("pip download for Python {}: {}", suite.python, reqs.join(" ")));
        let bulk = pip(&["--only-binary=:all:"], true, reqs);
        if let Err(e) = self.run_host_within(bulk, "pip download", Some(BULK_DOWNLOAD_LIMIT)).await {
            tracing::info!("pip download of the whole closure failed, taking each requirement alone: {e}");
            let mut wheeled = Vec::new();
            for r in reqs {
                let one = std::slice::from_ref(r);
                if self.run_host(pip(&["--only-binary=:all:", "--no-deps"], true, one), "pip download").await.is_ok() {
                    wheeled.push(r.clone());
                    continue;
                }
                self.say(&format!("{r}: no wheel for Python {}; taking its sdist", suite.python));
                // Not fatal here: when the image's pip needs it, its own error names it (see `pip_step`).
                let mut sdist = tokio::process::Command::new("python3");
                sdist.args(["-c", wheels::SDIST_FETCH, r]).arg(dir);
                if let Err(e) = self.run_host(sdist, "sdist download").await {
                    tracing::warn!("{r}: neither a wheel nor an sdist for Python {}: {e}", suite.python);
                    self.say(&format!("{r}: neither a wheel nor an sdist for Python {}", suite.python));
                }
            }
            if !wheeled.is_empty() && wheeled.len() < reqs.len() {
                // The closure of those with wheels, so that the image's pip finds their dependencies at versions
                // that agree (xarray: distributed at the pinned dask's version) rather than one escalation at a time.
                let bulk = pip(&["--only-binary=:all:"], true, &wheeled);
                if let Err(e) = self.run_host_within(bulk, "pip download", Some(BULK_DOWNLOAD_LIMIT)).await {
                    tracing::info!("pip download of the closure of the requirements with wheels failed too: {e}");
                }
            }
        }
        Ok(())
    }

    fn build_options(network: bool) -> ContainerOptions {
        ContainerOptions { network, memory_bytes: None, cpus: None, pids: Some(4096), ..Default::default() }
    }

    async fn exec_build(&self, c: &Container, script: &str, workdir: &str) -> Result<crate::ExecOutput> {
        let opts = ExecOptions {
            timeout: Some(Duration::from_secs(3600)),
            output_cap: 400_000,
            workdir: Some(workdir.into()),
            env: build_env(),
            keep_background: false,
        };
        let out = c.exec(&format!("set -euxo pipefail\n{script}"), &opts).await?;
        for l in out.output.lines() {
            tracing::debug!(target: "srl_sandbox::build", "{l}");
        }
        Ok(out)
    }

    fn build_error(what: &str, out: &crate::ExecOutput) -> SandboxError {
        let tail: Vec<&str> = out.output.lines().rev().take(30).collect();
        SandboxError::Build(format!(
            "{what} exited {:?}{}:\n{}",
            out.exit_code,
            if out.timed_out { " (timeout)" } else { "" },
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    }

    async fn run_build_script(&self, c: &Container, script: &str, what: &str) -> Result<()> {
        let out = self.exec_build(c, script, "/").await?;
        if !out.success() {
            return Err(Self::build_error(what, &out));
        }
        Ok(())
    }

    /// Runs one build command in `workdir`; when it fails because pip found no distribution for something (a
    /// dependency, an sdist's build requirement) or no version that every dependent accepts, downloads that on the
    /// host into the wheelhouse, copies the new files into the container and runs the command again. Other
    /// failures, or nothing new to fetch, are errors.
    async fn pip_step(
        &self,
        c: &Container,
        cmd: &str,
        workdir: &str,
        wheelhouse: &Path,
        suite: &DebianSuite,
        what: &str,
    ) -> Result<()> {
        let mut fetched: Vec<String> = Vec::new();
        for _ in 0..MAX_PIP_ROUNDS {
            let out = self.exec_build(c, cmd, workdir).await?;
            if out.success() {
                return Ok(());
            }
            let missing: Vec<String> = wheels::missing_requirements(&out.output)
                .into_iter()
                .chain(wheels::conflict_requirements(&out.output))
                .filter(|r| !fetched.contains(r))
                .collect();
            // The conflicting packages, resolved together on the host under the versions the user asked for
            // (one round each set).
            let pins = wheels::conflict_pins(&out.output);
            // Where some dependents exclude a pinned version, only they need other versions.
            let dependents = match wheels::dependents_excluding_pins(&out.output) {
                narrowed if !narrowed.is_empty() => narrowed,
                _ => wheels::conflict_dependents(&out.output),
            };
            // With the bounds that this step already knows for them (a requirement fetched earlier).
            let known: Vec<String> = fetched.iter().chain(&missing).cloned().collect();
            let dependents = wheels::with_known_bounds(&dependents, &known);
            let group = format!("together: {} under {}", dependents.join(" "), pins.join(" "));
            let resolve_together =
                (dependents.len() > 1 || !dependents.is_empty() && !pins.is_empty()) && !fetched.contains(&group);
            if (missing.is_empty() && !resolve_together) || out.timed_out {
                return Err(Self::build_error(what, &out));
            }
            if !missing.is_empty() {
                self.say(&format!("{what}: pip needs {}", missing.join(", ")));
                self.download(wheelhouse, suite, &missing, &[]).await?;
                fetched.extend(missing);
            }
            if resolve_together {
                let with = if pins.is_empty() { String::new() } else { format!(" and with {}", pins.join(", ")) };
                self.say(&format!("{what}: pip needs versions of {} that agree{with}", dependents.join(", ")));
                self.download(wheelhouse, suite, &dependents, &pins).await?;
                fetched.push(group);
            }
            // Everything the container lacks: another build of the same environment may have fetched it first.
            self.sync_wheels(c, wheelhouse).await?;
        }
        Err(SandboxError::Build(format!("{what}: still missing distributions after {MAX_PIP_ROUNDS} downloads")))
    }

    /// Copies the files of the host's wheelhouse `dir` that the container's lacks into it.
    async fn sync_wheels(&self, c: &Container, dir: &Path) -> Result<()> {
        let (_, have, _) = c.exec_argv(&["ls", "-1", WHEELS]).await?;
        let have: std::collections::HashSet<&str> = have.lines().collect();
        let new: Vec<PathBuf> = list_files(dir)?
            .into_iter()
            .filter(|f| !have.contains(f.as_str()) && f != ".complete")
            .map(|f| dir.join(f))
            .collect();
        self.upload_wheels(c, &new).await
    }

    /// Copies wheelhouse files into the container's wheelhouse.
    async fn upload_wheels(&self, c: &Container, files: &[PathBuf]) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let mut b = tar::Builder::new(Vec::new());
        for f in files {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            b.append_path_with_name(f, format!("{}/{name}", WHEELS.trim_start_matches('/')))
                .ctx(|| format!("tar {}", f.display()))?;
        }
        c.upload_tar("/", b.into_inner().ctx(|| "tar wheelhouse".into())?).await
    }

    /// The env image name for a spec (`srl-swe/env.<name>:<hash>`).
    pub fn env_image(&self, spec: &EnvSpec) -> Result<String> {
        let base = self.base_image_for(spec)?;
        Ok(format!(
            "srl-swe/env.{}:{}",
            docker_component(&spec.name),
            short_hash(&[RECIPE_VERSION, &base, &spec.content_hash()])
        ))
    }

    /// Make sure the environment image of `spec` exists: a venv at /opt/venv made with the python3 of the spec's
    /// Debian suite, pip/setuptools/wheel at [`wheels::BOOTSTRAP`], then the spec's pip packages. Everything comes
    /// from a wheelhouse downloaded on the host for that Python and platform, sdists included (built in the
    /// image); it stays in the image at /opt/srl-wheels for the instance builds and the eval script's
    /// re-install. No network in the container unless the spec says `network = true`.
    pub async fn ensure_env(&self, spec: &EnvSpec) -> Result<BuildReport> {
        let started = Instant::now();
        let suite = spec.debian_suite()?;
        let base = self.ensure_base_for(spec).await?;
        let image = self.env_image(spec)?;
        let lock = self.lock_for(&image);
        let _g = lock.lock().await;
        if self.exists(&image).await {
            return Ok(BuildReport { image, built: false, duration: started.elapsed() });
        }
        self.say(&format!("building {image} (Python {} of Debian {})", suite.python, suite.name));
        let reqs: Vec<String> =
            spec.pip_packages.iter().chain(&spec.drift_pins).chain(spec.plain_packages()).cloned().collect();
        let bootstrap: Vec<String> = wheels::BOOTSTRAP.iter().map(|s| s.to_string()).collect();
        let dir = self.wheelhouse_dir(spec, &suite);
        if !dir.join(".complete").exists() {
            self.download(&dir, &suite, &bootstrap, &[]).await?;
            self.download(&dir, &suite, &reqs, &[]).await?;
            srl_core::fs::write_atomic(&dir.join(".complete"), reqs.join("\n").as_bytes())
                .ctx(|| "mark wheelhouse".into())?;
        }
        let c = Container::start(&self.sandbox, &base.image, &Self::build_options(spec.network)).await?;
        let files: Vec<PathBuf> = list_files(&dir)?.into_iter().map(|f| dir.join(f)).collect();
        self.upload_wheels(&c, &files).await?;
        let what = format!("env {}", spec.name);
        let mut script = format!("mkdir -p {WHEELS}\npython3 -m venv {VENV}\n");
        script += &format!("echo 'export PATH={VENV}/bin:$PATH' > /etc/profile.d/00-srl-venv.sh\n");
        self.run_build_script(&c, &script, &what).await?;
        let quoted = |v: &[String]| v.iter().map(|r| shell_quote(r)).collect::<Vec<_>>().join(" ");
        let install = format!("python -m pip install {}", quoted(&bootstrap));
        self.pip_step(&c, &install, "/", &dir, &suite, &what).await?;
        if !reqs.is_empty() {
            let install = format!("python -m pip install {}", quoted(&reqs));
            self.pip_step(&c, &install, "/", &dir, &suite, &what).await?;
        }
        let mut check = String::new();
        for p in &spec.apt_packages {
            check += &format!("dpkg -s {} >/dev/null\n", shell_quote(p));
        }
        if !check.is_empty() {
            self.run_build_script(&c, &check, &what).await?;
        }
        let (repo, tag) = image.split_once(':').unwrap_or((&image, "latest"));
        let labels = HashMap::from([("srl-swe.spec".to_string(), spec.name.clone())]);
        let changes: Vec<String> =
            build_env().into_iter().filter(|e| !e.starts_with("DEBIAN")).map(|e| format!("ENV {e}")).collect();
        c.commit(repo, tag, &changes, labels).await?;
        c.remove().await?;
        self.say(&format!("built {image} in {:.0?}", started.elapsed()));
        Ok(BuildReport { image, built: true, duration: started.elapsed() })
    }

    /// The instance image name (`srl-swe/inst.<id>:<hash>`, or the published name for [`ImageSource::Swebench`]).
    pub fn instance_image(&self, instance: &Instance) -> Result<String> {
        if let ImageSource::Swebench { template } = &self.source {
            return Ok(swebench_image_name(template, &instance.instance_id));
        }
        let spec = self.spec_for(&instance.repo, &instance.version)?;
        let env = self.env_image(spec)?;
        Ok(format!(
            "srl-swe/inst.{}:{}",
            docker_component(&instance.instance_id),
            short_hash(&[
                RECIPE_VERSION,
                TESTBED_VERSION,
                &env,
                &instance.instance_id,
                &instance.base_commit,
                &instance.environment_setup_commit
            ])
        ))
    }

    /// The pip requirements of SWE-bench's `packages = ["requirements.txt"]` / `["environment.yml"]`: the first of
    /// the spec's `requirement_files` in the repository at the instance's `environment_setup_commit` (else its
    /// base commit), `-r` includes inlined; an environment.yml's conda names mapped through the spec's `conda`
    /// table. Empty when the spec has no such package.
    fn requirement_file_reqs(&self, spec: &EnvSpec, instance: &Instance, source: &RepoSource) -> Result<Vec<String>> {
        let Some(kind) = spec.packages.iter().find(|p| p.ends_with(".txt") || p.ends_with(".yml")) else {
            return Ok(Vec::new());
        };
        let commit = if instance.environment_setup_commit.is_empty() {
            &instance.base_commit
        } else {
            &instance.environment_setup_commit
        };
        let candidates =
            if spec.requirement_files.is_empty() { vec![kind.clone()] } else { spec.requirement_files.clone() };
        let read = |p: &str| read_file_at(source, commit, p).ok().flatten();
        let Some(path) = candidates.iter().find(|p| read(p).is_some()) else {
            return Err(SandboxError::Build(format!(
                "{}: none of {} is in {} at {commit}",
                spec.path.display(),
                candidates.join(", "),
                instance.repo
            )));
        };
        if kind.ends_with(".yml") {
            let (conda, pip) = wheels::environment_yml_dependencies(&read(path).unwrap_or_default());
            let mut out = Vec::new();
            for c in &conda {
                match wheels::map_conda(c, &spec.conda) {
                    wheels::CondaDep::Pip(r) => out.push(r),
                    wheels::CondaDep::Apt(p) if spec.apt_packages.contains(&p) => {}
                    wheels::CondaDep::Apt(p) => {
                        return Err(SandboxError::Build(format!(
                            "{}: conda.{c} maps to the Debian package {p}, which is not in apt_packages",
                            spec.path.display()
                        )));
                    }
                    wheels::CondaDep::Skip(why) => tracing::info!("{}: {path}: skipped {why}", instance.instance_id),
                }
            }
            out.extend(pip);
            return Ok(out);
        }
        wheels::flatten_requirements(path, &read).map_err(|e| SandboxError::Build(format!("{}: {e}", instance.repo)))
    }

    /// Make sure the instance image exists: the repository at `base_commit` under /testbed (from `source`), no
    /// later history reachable, the spec's requirement file, `pre_install` and install commands run offline from
    /// the wheelhouse (what they miss is downloaded on the host), a clean `git status`. With
    /// [`ImageSource::Swebench`] the published image is pulled instead.
    pub async fn ensure_instance(&self, instance: &Instance, source: &RepoSource) -> Result<BuildReport> {
        let started = Instant::now();
        let image = self.instance_image(instance)?;
        if let ImageSource::Swebench { .. } = &self.source {
            if !self.exists(&image).await {
                self.say(&format!("pulling {image}"));
                let opts = CreateImageOptions { from_image: Some(image.clone()), ..Default::default() };
                let mut s = self.sandbox.docker.create_image(Some(opts), None, None);
                while let Some(item) = s.next().await {
                    item.ctx(|| format!("pull {image}"))?;
                }
                return Ok(BuildReport { image, built: true, duration: started.elapsed() });
            }
            return Ok(BuildReport { image, built: false, duration: started.elapsed() });
        }
        let spec = self.spec_for(&instance.repo, &instance.version)?.clone();
        let suite = spec.debian_suite()?;
        let env = self.ensure_env(&spec).await?;
        let lock = self.lock_for(&image);
        let _g = lock.lock().await;
        if self.exists(&image).await {
            return Ok(BuildReport { image, built: false, duration: started.elapsed() });
        }
        self.say(&format!("building {image} ({} from {})", instance.instance_id, source.describe()));
        let file_reqs = self.requirement_file_reqs(&spec, instance, source)?;
        // The requirement file's closure in one `pip download` (a pip-compiled file pins dozens of packages; found
        // one by one by `pip_step`, each would cost a round).
        let dir = self.wheelhouse_dir(&spec, &suite);
        let constraints = crate::wheels::pin_constraints(&spec.pip_packages, &file_reqs);
        let reqs_key = short_hash(&[&env.image, &file_reqs.join("\n"), &constraints.join("\n")]);
        if let Some((first, error)) = self.failed_req(&reqs_key) {
            return Err(SandboxError::Build(format!(
                "the requirement file's install failed earlier in this run for {first}, with the same requirements \
                 and environment; not retried:\n{error}"
            )));
        }
        let id = &instance.instance_id;
        self.download(&dir, &suite, &file_reqs, &constraints).await.inspect_err(|e| self.fail_req(&reqs_key, id, e))?;
        let tmp = tempfile::tempdir().ctx(|| "temp dir".into())?;
        let testbed = tmp.path().join("testbed");
        let head = {
            let (source, base, testbed) = (source.clone(), instance.base_commit.clone(), testbed.clone());
            tokio::task::spawn_blocking(move || prepare_testbed(&source, &base, &testbed))
                .await
                .map_err(|e| SandboxError::Other(format!("prepare testbed: {e}")))??
        };
        if !instance.base_commit.is_empty() && head != instance.base_commit {
            return Err(SandboxError::BaseCommitMismatch {
                instance: instance.instance_id.clone(),
                built: head,
                expected: instance.base_commit.clone(),
            });
        }
        let tar_bytes = tar_testbed(&testbed)?;
        let c = Container::start(&self.sandbox, &env.image, &Self::build_options(spec.network)).await?;
        c.exec_argv(&["rm", "-rf", "/testbed"]).await?;
        c.upload_tar("/", tar_bytes).await?;
        // What the wheelhouse gained since the env image was made (other instances' downloads).
        self.sync_wheels(&c, &dir).await?;
        let what = format!("instance {}", instance.instance_id);
        for cmd in &spec.pre_install {
            self.pip_step(&c, cmd, "/testbed", &dir, &suite, &what).await?;
        }
        if !file_reqs.is_empty() {
            c.write_file("/tmp/srl-requirements.txt", (file_reqs.join("\n") + "\n").as_bytes()).await?;
            // The pins constrain the file's resolution (a newer dask would want a newer numpy than the pinned one),
            // except where the file pins a version of its own.
            c.write_file("/tmp/srl-constraints.txt", (constraints.join("\n") + "\n").as_bytes()).await?;
            let cmd = "python -m pip install -r /tmp/srl-requirements.txt -c /tmp/srl-constraints.txt";
            self.pip_step(&c, cmd, "/testbed", &dir, &suite, &what)
                .await
                .inspect_err(|e| self.fail_req(&reqs_key, id, e))?;
            // SWE-bench installs the pins after the requirement file: they win.
            if !spec.pip_packages.is_empty() {
                let pins: Vec<String> = spec.pip_packages.iter().map(|r| shell_quote(r)).collect();
                let cmd = format!("python -m pip install {}", pins.join(" "));
                self.pip_step(&c, &cmd, "/testbed", &dir, &suite, &what).await?;
            }
            self.run_build_script(&c, "rm -f /tmp/srl-requirements.txt /tmp/srl-constraints.txt", &what).await?;
        }
        for cmd in &spec.install {
            self.pip_step(&c, cmd, "/testbed", &dir, &suite, &what).await?;
        }
        let mut script = String::from("cd /testbed\n");
        script += &wheels::tox_current_env_setup(&spec.test_cmd, VENV);
        script += "git reflog expire --expire=now --all\ngit gc --prune=now --quiet\n";
        // Whatever the install left untracked is build output: hide it from `git status` and from the patch.
        script += "git status --porcelain --untracked-files=all | sed -n 's/^?? //p' >> .git/info/exclude\n";
        // An install that rewrote tracked files (versioneer, pre_install's sed) is part of the environment.
        script += "if [ -n \"$(git status --porcelain)\" ]; then git add -A && git commit -q --no-verify -m 'srl-swe: environment set-up' && git update-ref refs/srl-swe/setup HEAD; fi\n";
        script += "test -z \"$(git status --porcelain)\"\n";
        self.run_build_script(&c, &script, &what).await?;
        let (repo, tag) = image.split_once(':').unwrap_or((&image, "latest"));
        let labels = HashMap::from([("srl-swe.instance".to_string(), instance.instance_id.clone())]);
        c.commit(repo, tag, &["WORKDIR /testbed".to_string()], labels).await?;
        c.remove().await?;
        self.say(&format!("built {image} in {:.0?}", started.elapsed()));
        Ok(BuildReport { image, built: true, duration: started.elapsed() })
    }
}

/// The names of the plain files of `dir`, sorted.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .ctx(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    Ok(out)
}

/// Single-quote for bash.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Runs a host command, its output lines passed to `progress` and to the log (the last 20 kept for the error),
/// killed after `limit`.
async fn run_logged(
    mut cmd: tokio::process::Command,
    what: &str,
    limit: Option<Duration>,
    progress: &Progress,
) -> Result<()> {
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).kill_on_drop(true);
    if limit.is_some() {
        // Its own process group, killed whole at the limit: `python3` may be a shim (pyenv's) whose child does the
        // work. (Without a limit it stays in ours, so that Ctrl-C reaches it.)
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().ctx(|| format!("spawn {what}"))?;
    let pgid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let tail = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::<String>::new()));
    let pump = |r: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        let tail = tail.clone();
        let progress = progress.clone();
        let what = what.to_string();
        async move {
            let Some(r) = r else { return };
            let mut lines = tokio::io::BufReader::new(r).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                tracing::debug!(target: "srl_sandbox::build", "{what}: {l}");
                progress(&format!("{what}: {l}"));
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                t.push_back(l);
                if t.len() > 20 {
                    t.pop_front();
                }
            }
        }
    };
    let a = pump(stdout.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>));
    let b = pump(stderr.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>));
    let run = async { tokio::join!(a, b, child.wait()) };
    let (_, _, status) = match limit {
        Some(limit) => match tokio::time::timeout(limit, run).await {
            Ok(done) => done,
            Err(_) => {
                if let Some(pgid) = pgid {
                    // The leader is killed on drop (`kill_on_drop`); this takes its children too.
                    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
                }
                return Err(SandboxError::Build(format!("{what} took longer than {limit:?}; stopped")));
            }
        },
        None => run.await,
    };
    let status = status.ctx(|| format!("wait {what}"))?;
    if !status.success() {
        let t = tail.lock().unwrap_or_else(|e| e.into_inner());
        return Err(SandboxError::Build(format!(
            "{what} failed ({status}):\n{}",
            t.iter().cloned().collect::<Vec<_>>().join("\n")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that has exited and waits for its parent to reap it.
    fn zombie(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn host_commands_stop_at_their_limit_and_keep_their_last_lines() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let progress: Progress = {
            let seen = seen.clone();
            Arc::new(move |l: &str| seen.lock().unwrap().push(l.to_string()))
        };
        // A shim whose child does the work (as pyenv's `python3`): the child goes too.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let mut slow = tokio::process::Command::new("sh");
        slow.args(["-c", &format!("echo resolving; sleep 30 & echo $! > {}; wait", pid_file.display())]);
        let started = std::time::Instant::now();
        let err = run_logged(slow, "pip download", Some(Duration::from_millis(500)), &progress).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10), "stopped at the limit, not after the sleep");
        assert!(err.to_string().contains("pip download took longer than 500ms; stopped"), "{err}");
        let child = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
        let alive = || std::path::Path::new(&format!("/proc/{child}")).exists() && !zombie(&child);
        for _ in 0..50 {
            if !alive() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!alive(), "the shim's child {child} outlived the limit");
        let mut failing = tokio::process::Command::new("sh");
        failing.args(["-c", "echo one; echo two >&2; exit 3"]);
        let err = run_logged(failing, "setup", None, &progress).await.unwrap_err().to_string();
        assert!(err.contains("setup failed") && err.contains("one") && err.contains("two"), "{err}");
        assert!(seen.lock().unwrap().contains(&"pip download: resolving".to_string()));
        let ok = tokio::process::Command::new("true");
        run_logged(ok, "true", Some(Duration::from_secs(30)), &progress).await.unwrap();
    }

    #[test]
    fn swebench_names() {
        assert_eq!(
            swebench_image_name(ImageSource::SWEBENCH_TEMPLATE, "django__django-11099"),
            "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
        );
        assert_eq!(
            swebench_image_name("xingyaoww/sweb.eval.x86_64.{id_raw}", "A__b-1"),
            "xingyaoww/sweb.eval.x86_64.a__b-1"
        );
    }

    #[test]
    fn sources_from_their_names() {
        let kind: ImageSourceKind = "swebench".parse().unwrap();
        let s = ImageSource::new(kind, ImageSource::SWEBENCH_TEMPLATE);
        assert_eq!(s, ImageSource::Swebench { template: ImageSource::SWEBENCH_TEMPLATE.into() });
        assert_eq!(s.kind(), ImageSourceKind::Swebench);
        assert_eq!(ImageSource::new(ImageSourceKind::Local, "ignored"), ImageSource::Local);
        let e = "hub".parse::<ImageSourceKind>().unwrap_err().to_string();
        assert_eq!(e, "unknown image source \"hub\": expected `local` or `swebench`");
    }

    #[test]
    fn recipe_tag_changes_with_packages() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker");
        let a = base_recipe(&dir, None, &[]).unwrap();
        let mut b = a.clone();
        b.packages.push("zsh".into());
        assert_ne!(a.tag(), b.tag());
        assert_eq!(a.tag(), base_recipe(&dir, None, &[]).unwrap().tag());
    }

    #[test]
    fn mirror_from_host() {
        assert!(host_debian_mirror("bookworm").starts_with("http"));
    }
}
