//! The container half of the evaluator: one instance graded in a fresh container, and a whole run with workers.
//!
//! Per instance ([`Harness::evaluate`]): the instance image (built or pulled through `srl-sandbox`), a fresh
//! container, the model patch applied with SWE-bench's fallbacks (`git apply`, `git apply --reject`,
//! `patch --fuzz=5`; which one worked is recorded), the eval script of [`build_eval_script`] run with a timeout,
//! and the log graded with the repository's parser. Nothing that goes wrong with one instance is an `Err`: a patch
//! that applies nowhere, a timeout, an image that fails to build, a container that dies are an [`ErrorKind`] in the
//! instance's `srl_extras.json`, and (as in SWE-bench) such an instance has no `report.json` and counts as an error.
//! [`Harness::run`] writes each instance's files as soon as it finishes (atomically, `report.json` last), so a
//! killed run keeps everything graded so far and resumes with [`crate::plan_run`].
//!
//! Containers run on a pool of Docker engines ([`Hosts`]; one engine by default): [`Harness::in_container`] takes a
//! slot on an engine that is up, makes the instance image there (moved from another engine or built), and when
//! that engine goes down during the work, runs the work again on another one, so an instance is graded once
//! whatever engine dies; the engine that ran it is in `srl_extras.json` (`docker_host`).
//!
//! With [`Harness::with_image_cache`] a run removes images as SWE-bench's cache levels say ([`crate::cache`]):
//! each instance's image once the instance is done ([`Harness::instance_done`], which [`Harness::run`] calls after
//! each grading), the rest at [`Harness::finish_images`]. A container whose image went away meanwhile (another
//! run's cache on the same engine) is made again once.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use srl_core::Instance;
use srl_sandbox::{
    Container, ContainerOptions, EnvSpec, ExecOptions, Hosts, ImageBuilder, ImageSource, Lease, TaskSet,
};

use crate::cache::{CacheOptions, CacheReport, DiskFigures, HostImages, ImageCache, InstanceImages};
use crate::error::EvalError;
use crate::grade::{GoldTests, GradingConfig, grade_log};
use crate::layout::{InstanceFiles, RunLayout};
use crate::log::{APPLY_PATCH_FAIL, Markers};
use crate::predictions::Prediction;
use crate::report::{ErrorKind, InstanceExtras, InstanceReport};
use crate::run::RunPlan;
use crate::script::{EnvFacts, EvalScriptConfig, build_eval_script};

/// Where the eval script is written in the container.
const EVAL_SCRIPT_PATH: &str = "/eval.sh";
/// `srl_extras.json`'s `patch_method` of an empty patch run as the control ([`HarnessOptions::run_empty`]).
pub const NO_PATCH: &str = "none (empty patch: the tests ran on the unpatched repository)";

/// Settings of a harness. `Default`: SWE-bench's 1800 s per instance, 5.x grading, its markers, the sandbox's
/// container limits (no network), 64 MiB of log kept.
#[derive(Clone, Debug)]
pub struct HarnessOptions {
    /// Time limit of the eval script (the tests); on expiry the instance is a timeout error.
    pub timeout: Duration,
    pub grading: GradingConfig,
    pub markers: Markers,
    /// Container settings (the instance id label is set per instance).
    pub container: ContainerOptions,
    /// Most bytes of test log kept (head and tail); SWE-bench keeps everything, so keep this large.
    pub output_cap: usize,
    /// An empty patch runs the tests on the unpatched repository (validation's control) instead of failing to
    /// apply. Plans leave empty patches out unless [`RunPlan::run_empty_patches`] puts them back.
    pub run_empty: bool,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            timeout: Duration::from_secs(1800),
            grading: GradingConfig::default(),
            markers: Markers::default(),
            container: ContainerOptions::default(),
            output_cap: 64 << 20,
            run_empty: false,
        }
    }
}

/// The result of grading one prediction: what [`RunLayout::write_instance`] writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    pub instance_id: String,
    pub model_name_or_path: String,
    /// The model patch as given.
    pub patch: String,
    /// The eval script, when one was built.
    pub eval_script: Option<String>,
    /// The test log (partial on a timeout), or why the patch did not apply.
    pub test_output: Option<String>,
    /// SWE-bench's report; `None` for an error instance.
    pub report: Option<InstanceReport>,
    pub extras: InstanceExtras,
}

impl Evaluation {
    fn new(instance: &Instance, prediction: &Prediction) -> Evaluation {
        Evaluation {
            instance_id: instance.instance_id.clone(),
            model_name_or_path: prediction.model_name_or_path.clone(),
            patch: prediction.model_patch.clone().unwrap_or_default(),
            extras: InstanceExtras {
                instance_id: instance.instance_id.clone(),
                model_name_or_path: Some(prediction.model_name_or_path.clone()),
                ..InstanceExtras::default()
            },
            ..Evaluation::default()
        }
    }

    /// True when graded and resolved (FULL).
    pub fn resolved(&self) -> bool {
        self.report.as_ref().is_some_and(|r| r.resolved)
    }

    /// The error kind of an instance without a report.
    pub fn error(&self) -> Option<&ErrorKind> {
        self.extras.error.as_ref()
    }

    /// Writes the instance's files under `layout` (`report.json` last).
    pub fn write(&self, layout: &RunLayout) -> Result<std::path::PathBuf, EvalError> {
        layout.write_instance(
            &self.model_name_or_path,
            &self.instance_id,
            &InstanceFiles {
                patch: Some(&self.patch),
                eval_script: self.eval_script.as_deref(),
                test_output: self.test_output.as_deref(),
                report: self.report.as_ref(),
                extras: Some(&self.extras),
            },
        )
    }
}

/// The grading facts of an environment spec (`environments/*.toml`): the same fields SWE-bench's `env_specs.json`
/// has, so one spec drives both the image build and the eval script.
pub fn env_facts(spec: &EnvSpec) -> EnvFacts {
    let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(" && "));
    EnvFacts {
        python: Some(spec.python.clone()),
        packages: (!spec.packages.is_empty()).then(|| spec.packages.join(" ")),
        install: joined(&spec.install),
        pre_install: spec.pre_install.clone(),
        pip_packages: spec.pip_packages.clone(),
        test_cmd: vec![spec.test_cmd.clone()],
        eval_commands: spec.eval_commands.clone(),
        log_format: Some(spec.log_format.clone()),
        no_use_env: spec.no_use_env.then_some(true),
        nano_cpus: spec.nano_cpus,
    }
}

/// Grades predictions in containers.
pub struct Harness {
    hosts: Hosts,
    builder: ImageBuilder,
    tasks: TaskSet,
    pub options: HarnessOptions,
    /// Which images the run removes, and when ([`Harness::with_image_cache`]); none without it.
    cache: Option<ImageCache>,
}

type Failure = (ErrorKind, String);

/// A value made in a container, and the engine that ran it.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed<T> {
    pub value: T,
    /// The name of the Docker engine ([`srl_sandbox::Host::name`]).
    pub host: String,
}

impl Harness {
    /// `hosts` runs the containers (a [`srl_sandbox::Sandbox`] for one engine); `builder` makes (or pulls) the
    /// images; `tasks` says where each instance's repository comes from (bundled tasks, git mirrors).
    pub fn new(hosts: impl Into<Hosts>, builder: ImageBuilder, tasks: TaskSet, options: HarnessOptions) -> Harness {
        Harness { hosts: hosts.into(), builder, tasks, options, cache: None }
    }

    /// SWE-bench's cache levels for this run (see [`crate::cache`]): records the images every engine holds now
    /// (call it before anything is built), then [`Harness::run`] (and the agent's and the replay's loops, through
    /// [`Harness::instance_done`]) removes each instance image once its instance is done, and
    /// [`Harness::finish_images`] what else goes at the end. `instances` are the run's; their images are the ones
    /// it may remove. Without it a harness removes nothing.
    pub async fn with_image_cache(mut self, options: CacheOptions, instances: &[Instance]) -> Harness {
        let images: Vec<(String, InstanceImages)> =
            instances.iter().filter_map(|i| Some((i.instance_id.clone(), self.instance_images(i)?))).collect();
        let store = HostImages { hosts: self.hosts.clone(), prefixes: self.image_prefixes() };
        self.cache = Some(ImageCache::start(store, options, images).await);
        self
    }

    /// The image cache of [`Harness::with_image_cache`].
    pub fn image_cache(&self) -> Option<&ImageCache> {
        self.cache.as_ref()
    }

    /// The images of `instance` by layer: the instance image, and for images built here its environment and base;
    /// `None` when it has no spec.
    pub fn instance_images(&self, instance: &Instance) -> Option<InstanceImages> {
        let image = self.builder.instance_image(instance).ok()?;
        match self.builder.image_source() {
            ImageSource::Swebench { .. } => Some(InstanceImages { instance: image, env: None, base: None }),
            ImageSource::Local => {
                let spec = self.spec(instance).ok()?;
                let (env, base) = (self.builder.env_image(spec).ok(), self.builder.base_image_for(spec).ok());
                Some(InstanceImages { instance: image, env, base })
            }
        }
    }

    /// Where the names of this harness's images start (the disk figure covers those): `srl-swe/`, and for
    /// published images their template's fixed head.
    fn image_prefixes(&self) -> Vec<String> {
        let mut prefixes = vec!["srl-swe/".to_string()];
        if let ImageSource::Swebench { template } = self.builder.image_source() {
            let head = template.split('{').next().unwrap_or_default().to_lowercase();
            if !head.is_empty() && !head.starts_with("srl-swe/") {
                prefixes.push(head);
            }
        }
        prefixes
    }

    /// One use of `instance` is done (its grading; with an agent, its episode and its grading): with an image
    /// cache its instance image goes when the level says so and no planned use is left ([`ImageCache::plan`]),
    /// and the disk figure is measured again. Nothing without a cache.
    pub async fn instance_done(&self, instance: &Instance) {
        if let Some(c) = &self.cache {
            c.instance_done(&instance.instance_id).await;
        }
    }

    /// The disk figures of the image cache (start, after the latest instance, peak).
    pub fn image_disk(&self) -> Option<DiskFigures> {
        self.cache.as_ref().map(ImageCache::disk)
    }

    /// The end of the run for the image cache: removes the environment and base images (and instance images left)
    /// above the level, and reports what the run removed and the disk. `None` without a cache.
    pub async fn finish_images(&self) -> Option<CacheReport> {
        match &self.cache {
            Some(c) => Some(c.finish().await),
            None => None,
        }
    }

    /// The engines containers run on.
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// The environment spec serving `instance`.
    pub fn spec(&self, instance: &Instance) -> Result<&EnvSpec, srl_sandbox::SandboxError> {
        self.builder.spec_for(&instance.repo, &instance.version)
    }

    /// Makes sure the engine of `lease` holds the instance image (found there, moved from another engine, built
    /// or pulled) and returns its name.
    pub async fn image(&self, instance: &Instance, lease: &Lease) -> Result<String, srl_sandbox::SandboxError> {
        let image = self.builder.instance_image(instance)?;
        let build = async |sb: &srl_sandbox::Sandbox| {
            let builder = self.builder.on(sb);
            let source = match builder.image_source() {
                ImageSource::Swebench { .. } => srl_sandbox::RepoSource::Files(std::path::PathBuf::new()),
                ImageSource::Local => {
                    // The repository first: a missing mirror is found before minutes of environment build.
                    let source = self.tasks.source(instance)?;
                    self.spec(instance)?.debian_suite()?;
                    source
                }
            };
            builder.ensure_instance(instance, &source).await.map(|_| ())
        };
        self.hosts.ensure_image(lease.index(), &image, build).await?;
        Ok(image)
    }

    /// A fresh container of the instance image on the engine of `lease`, labelled with the instance id.
    async fn start_on(&self, instance: &Instance, lease: &Lease) -> Result<Container, Failure> {
        let image = self.image(instance, lease).await.map_err(|e| (ErrorKind::ImageBuildFailed, e.to_string()))?;
        let opts =
            ContainerOptions { instance_id: Some(instance.instance_id.clone()), ..self.options.container.clone() };
        let started = match Container::start(&lease.host().sandbox, &image, &opts).await {
            // Removed since it was found (another run's cache level): made again, once.
            Err(e) if e.is_not_found() => {
                tracing::info!(instance = %instance.instance_id, %image, "the image went away: making it again");
                self.hosts.forget_image(lease.index(), &image);
                let image =
                    self.image(instance, lease).await.map_err(|e| (ErrorKind::ImageBuildFailed, e.to_string()))?;
                Container::start(&lease.host().sandbox, &image, &opts).await
            }
            r => r,
        };
        started.map_err(|e| (ErrorKind::ContainerFailed, e.to_string()))
    }

    /// Runs `work` in a fresh container of the instance image on an engine with a free slot (preferring one that
    /// holds the image), then removes the container. When the engine goes down during the image, the start or the
    /// work (or is found down right after), the attempt is dropped and runs again from the start on another engine;
    /// an `Err` is an image or container failure on an engine that is up, or every engine down.
    pub async fn in_container<T>(
        &self,
        instance: &Instance,
        mut work: impl AsyncFnMut(&Container) -> T,
    ) -> Result<Placed<T>, Failure> {
        let wanted = self.builder.instance_image(instance).ok();
        loop {
            let lease =
                self.hosts.acquire(wanted.as_deref()).await.map_err(|e| (ErrorKind::ContainerFailed, e.to_string()))?;
            let host = lease.host().name.clone();
            let attempt = async {
                let container = self.start_on(instance, &lease).await?;
                let value = work(&container).await;
                Ok::<_, Failure>((container, value))
            };
            let outcome = tokio::select! {
                r = attempt => Some(r),
                () = lease.lost() => None,
            };
            let up = outcome.is_some() && self.hosts.check(lease.index()).await;
            match outcome {
                Some(Ok((container, value))) if up => {
                    match tokio::time::timeout(Duration::from_secs(30), container.remove()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!(instance = %instance.instance_id, "removing the container: {e}"),
                        Err(_) => tracing::warn!(instance = %instance.instance_id, "removing the container timed out"),
                    }
                    return Ok(Placed { value, host });
                }
                Some(Err(failure)) if up => return Err(failure),
                Some(Ok((container, _))) => {
                    tokio::time::timeout(Duration::from_secs(2), container.remove()).await.ok();
                }
                _ => {}
            }
            tracing::warn!(instance = %instance.instance_id, %host, "the Docker host went down: running it again elsewhere");
        }
    }

    /// The eval script's container settings: SWE-bench's conda layout for its published images, the venv (already
    /// on `PATH`) for images built here.
    fn script_config(&self) -> EvalScriptConfig {
        match self.builder.image_source() {
            ImageSource::Swebench { .. } => EvalScriptConfig::default(),
            ImageSource::Local => EvalScriptConfig { conda_env: None, ..EvalScriptConfig::default() },
        }
    }

    /// Grades one prediction in a fresh container. Never fails: what went wrong is in `extras.error`.
    pub async fn evaluate(&self, instance: &Instance, prediction: &Prediction) -> Evaluation {
        let started = Instant::now();
        let mut ev = Evaluation::new(instance, prediction);
        if let Err((kind, message)) = self.evaluate_into(instance, &mut ev).await {
            tracing::info!(instance = %instance.instance_id, ?kind, "{message}");
            ev.extras.error = Some(kind);
            ev.extras.message = Some(message);
            ev.report = None;
        }
        ev.extras.duration_s = Some(started.elapsed().as_secs_f64());
        ev
    }

    async fn evaluate_into(&self, instance: &Instance, ev: &mut Evaluation) -> Result<(), Failure> {
        let spec = self.spec(instance).map_err(|e| (ErrorKind::ImageBuildFailed, e.to_string()))?;
        if self.builder.image_source() == &ImageSource::Local {
            ev.extras.environment_deviation = spec.deviation.clone();
        }
        let facts = env_facts(spec);
        let parser = facts.log_parser(&instance.repo).map_err(|e| (ErrorKind::Other, e.to_string()))?;
        ev.extras.log_format = Some(parser.as_str().to_string());
        let script = build_eval_script(instance, &facts, &self.options.markers, &self.script_config());
        ev.eval_script = Some(script.clone());
        let fresh = ev.clone();
        let placed = self
            .in_container(instance, async |c| {
                let mut attempt = fresh.clone();
                let result = self.grade_in(c, instance, &script, parser, &mut attempt).await;
                (attempt, result)
            })
            .await?;
        let (graded, result) = placed.value;
        *ev = graded;
        ev.extras.docker_host = Some(placed.host);
        result
    }

    async fn grade_in(
        &self,
        c: &Container,
        instance: &Instance,
        script: &str,
        parser: crate::parse::LogParser,
        ev: &mut Evaluation,
    ) -> Result<(), Failure> {
        let failed = |e: srl_sandbox::SandboxError| (ErrorKind::ContainerFailed, e.to_string());
        if self.options.run_empty && ev.patch.trim().is_empty() {
            ev.extras.patch_method = Some(NO_PATCH.to_string());
        } else {
            let applied = c.apply_patch(&ev.patch).await.map_err(failed)?;
            match applied.method {
                Some(m) => ev.extras.patch_method = Some(m.command().to_string()),
                None => {
                    let why = applied.summary();
                    ev.test_output = Some(format!("{APPLY_PATCH_FAIL}\n{why}\n"));
                    return Err((ErrorKind::PatchFailed, why));
                }
            }
        }
        c.write_file_with(EVAL_SCRIPT_PATH, script.as_bytes(), 0o755, 0, 0).await.map_err(failed)?;
        let opts = ExecOptions {
            timeout: Some(self.options.timeout),
            output_cap: self.options.output_cap,
            ..ExecOptions::default()
        };
        let out = c.exec(&format!("bash {EVAL_SCRIPT_PATH} 2>&1"), &opts).await.map_err(failed)?;
        ev.extras.script_exit_code = out.exit_code;
        if out.timed_out {
            let secs = self.options.timeout.as_secs();
            ev.test_output = Some(format!("{}\n\nTimeout error: {secs} seconds exceeded.\n", out.output));
            return Err((ErrorKind::Timeout, format!("the tests ran past {secs} s")));
        }
        let outcome = grade_log(
            &out.output,
            parser,
            &GoldTests::from_instance(instance),
            &self.options.markers,
            &self.options.grading,
        );
        ev.test_output = Some(out.output);
        ev.extras.test_exit_code = outcome.exit_code;
        ev.extras.resolution = Some(outcome.resolution);
        ev.extras.log_error = outcome.log_error.clone();
        ev.report = Some(outcome.to_report());
        Ok(())
    }

    /// Runs a plan with up to `max_workers` containers at once. Each finished instance is done for the image cache
    /// ([`Harness::instance_done`]) and written to `layout` before `on_done` sees it; an `Err` is only a failure to
    /// write there.
    pub async fn run(
        &self,
        layout: &RunLayout,
        plan: &RunPlan,
        max_workers: usize,
        mut on_done: impl FnMut(&Evaluation),
    ) -> Result<Vec<Evaluation>, EvalError> {
        let mut stream = futures_util::stream::iter(plan.to_run.iter())
            .map(|(inst, pred)| async move {
                let ev = self.evaluate(inst, pred).await;
                self.instance_done(inst).await;
                ev
            })
            .buffer_unordered(max_workers.max(1));
        let mut done = Vec::with_capacity(plan.to_run.len());
        while let Some(ev) = stream.next().await {
            ev.write(layout)?;
            on_done(&ev);
            done.push(ev);
        }
        Ok(done)
    }
}
