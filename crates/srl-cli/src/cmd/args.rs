//! Argument groups that several commands share, and their lowering into the libraries' types: where images,
//! specs, tasks and datasets are ([`Paths`], [`dataset_source`], [`harness`]) and how an agent policy runs
//! ([`PolicyArgs`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use srl_core::{DeviceSpec, Instance, PromptConfig, SamplingParams, SystemPrompt, TaskPrompt, Window};
use srl_eval::{CacheLevel, CacheOptions, DatasetSource, Harness, HarnessOptions};
use srl_sandbox::{HostSpec, Hosts, ImageBuilder, ImageSource, ImageSourceKind, Sandbox, TaskSet};

use crate::support::choice;
use crate::support::progress::truncate;

/// Where recipes, specs and tasks are, and where images come from.
#[derive(Debug, clap::Args)]
pub struct Paths {
    /// Image recipes (default: `docker/` of the srl-swe folder, see SRL_HOME).
    #[arg(long, env = "SRL_DOCKER_DIR")]
    pub docker_dir: Option<PathBuf>,
    /// Environment specs (default: `environments/` of the srl-swe folder).
    #[arg(long, env = "SRL_ENV_DIR")]
    pub env_dir: Option<PathBuf>,
    /// Bundled tasks, bundled.jsonl + <name>/repo (default: `tasks/` of the srl-swe folder).
    #[arg(long, env = "SRL_TASKS_DIR")]
    pub tasks_dir: Option<PathBuf>,
    /// A SWE-bench dataset instead of the bundled tasks: JSONL, a JSON list, a Parquet file as Hugging Face keeps
    /// it, or a folder of Parquet shards (its `test` ones, read in name order).
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// A folder of git mirrors (`owner__name`) for the repositories of --dataset.
    #[arg(long, env = "SRL_MIRROR_DIR")]
    pub mirror_dir: Option<PathBuf>,
    /// `local` (built here, offline) or `swebench` (pull SWE-bench's published images; needs internet).
    #[arg(long, default_value = "local", value_parser = choice::<ImageSourceKind>())]
    pub image_source: ImageSourceKind,
    /// Image name template for --image-source swebench (`{id}`: id with `__` as `_1776_`; `{id_raw}`: as is).
    #[arg(long, default_value = ImageSource::SWEBENCH_TEMPLATE)]
    pub image_template: String,
}

/// The folder holding srl-swe's `docker/`, `environments/` and `tasks/`: the `SRL_HOME` environment variable, else
/// the working directory when it holds `environments/`, else the checkout this binary was built from. So the
/// commands work from any folder.
pub fn home() -> PathBuf {
    // An empty SRL_HOME (`SRL_HOME= srl-swe ...`) is unset, not the working directory.
    if let Some(h) = std::env::var_os("SRL_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let here = PathBuf::from(".");
    if here.join(ENVIRONMENTS).is_dir() {
        return here;
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match built.canonicalize() {
        Ok(b) if b.join(ENVIRONMENTS).is_dir() => b,
        _ => here,
    }
}

const ENVIRONMENTS: &str = "environments";

impl Paths {
    pub fn docker_dir(&self) -> PathBuf {
        self.docker_dir.clone().unwrap_or_else(|| home().join("docker"))
    }

    pub fn env_dir(&self) -> PathBuf {
        self.env_dir.clone().unwrap_or_else(|| home().join(ENVIRONMENTS))
    }

    pub fn tasks_dir(&self) -> PathBuf {
        self.tasks_dir.clone().unwrap_or_else(|| home().join("tasks"))
    }

    /// The folder `--split bundled` is found in (`<it>/tasks/bundled.jsonl`).
    pub fn bundled_root(&self) -> PathBuf {
        self.tasks_dir().parent().map(Path::to_path_buf).unwrap_or_default()
    }

    pub fn tasks(&self) -> anyhow::Result<TaskSet> {
        let set = match &self.dataset {
            Some(d) => TaskSet {
                instances: srl_eval::load_source(&DatasetSource::File(d.clone()), &self.bundled_root())?,
                tasks_dir: Some(self.tasks_dir()),
                mirror_dir: None,
            },
            None => {
                let dir = self.tasks_dir();
                TaskSet::bundled(&dir).with_context(|| {
                    format!("reading the bundled tasks in {} (set SRL_HOME to the srl-swe folder)", dir.display())
                })?
            }
        };
        Ok(set.with_mirror(self.mirror_dir.clone()))
    }

    pub fn builder(&self, sb: &Sandbox, bar: &ProgressBar) -> anyhow::Result<ImageBuilder> {
        let bar = bar.clone();
        let progress: srl_sandbox::Progress = Arc::new(move |line: &str| bar.set_message(truncate(line, 100)));
        let source = ImageSource::new(self.image_source, &self.image_template);
        let (docker, env) = (self.docker_dir(), self.env_dir());
        let builder = ImageBuilder::new(sb, &docker, &env)
            .with_context(|| format!("recipes in {}, specs in {} (set SRL_HOME)", docker.display(), env.display()))?;
        Ok(builder.progress(progress).source(source))
    }
}

/// The Docker engines containers run on.
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// A Docker engine to run containers on; repeat for several (instances go where a slot is free, images are
    /// moved between engines, an engine that stops answering is dropped and its instances run elsewhere). `local`
    /// (DOCKER_HOST or the local socket), unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST; each takes
    /// --max-workers containers at once. Default: the local engine.
    #[arg(long = "docker-host", value_name = "URL")]
    pub docker_host: Vec<String>,
    /// A TOML file of engines instead: `[[host]]` entries with `url`, and optionally `name`, `capacity` and
    /// `tls = { ca, cert, key }` (PEM files of a TLS engine; relative to the file).
    #[arg(long, env = "SRL_HOSTS_FILE", conflicts_with = "docker_host", value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,
}

impl HostArgs {
    /// Connects to the engines (each taking `per_host` containers unless its entry says otherwise), stamping
    /// containers with `run_id`. Image moves are printed; a lost engine is a logged warning.
    pub async fn connect(&self, per_host: usize, run_id: Option<&str>) -> anyhow::Result<Hosts> {
        let specs = match &self.hosts_file {
            Some(f) => HostSpec::load_file(f)?,
            None if self.docker_host.is_empty() => vec![HostSpec::url("local")],
            None => self.docker_host.iter().map(HostSpec::url).collect(),
        };
        let progress: srl_sandbox::Progress = Arc::new(|line: &str| eprintln!("{line}"));
        let hosts = Hosts::connect(&specs, per_host.max(1), run_id, progress).await.context("connecting to Docker")?;
        // Leftovers of dead runs on this machine: containers made to outlive their process, and any killed between
        // its creation and its start (a created container runs nothing, so nothing else removes it).
        for h in hosts.hosts() {
            match h.sandbox.gc(false).await {
                Ok(r) if !r.removed.is_empty() => {
                    eprintln!("removed {} container(s) left by dead runs on {}", r.removed.len(), h.name)
                }
                Ok(_) => {}
                Err(e) => eprintln!("warning: looking for containers left by dead runs on {}: {e}", h.name),
            }
        }
        Ok(hosts)
    }
}

/// What a run does with its images: SWE-bench's cache levels and `--clean`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct CacheArgs {
    /// Image layers kept (SWE-bench's --cache_level): `none`, `base`, `env` or `instance`. Images of the layers
    /// above go once the run no longer needs them: an instance image right after its instance, environment and
    /// base images at the end of the run. An image that was there before the run stays unless --clean.
    #[arg(long, env = "SRL_CACHE_LEVEL", default_value = "env", value_parser = choice::<CacheLevel>())]
    pub cache_level: CacheLevel,
    /// Also remove images above --cache-level that were there before the run (SWE-bench's --clean).
    #[arg(long)]
    pub clean: bool,
}

impl CacheArgs {
    pub fn options(&self) -> CacheOptions {
        CacheOptions { level: self.cache_level, clean: self.clean }
    }

    /// `h` with the image cache on over `instances` (their images are the ones the run may remove); prints the
    /// level and the image disk at the start.
    pub async fn apply(&self, h: Harness, instances: &[Instance]) -> Harness {
        let h = h.with_image_cache(self.options(), instances).await;
        let what = match self.cache_level {
            CacheLevel::None => "removes the images it makes",
            CacheLevel::Base => "keeps base images",
            CacheLevel::Env => "keeps base and environment images, instance images go after their instance",
            CacheLevel::Instance => "keeps every image",
        };
        let earlier = match (self.cache_level, self.clean) {
            (CacheLevel::Instance, _) => "",
            (_, false) => "; images there before the run stay (--clean removes them too)",
            (_, true) => "; --clean: images there before the run go too",
        };
        let disk = h.image_disk().and_then(|d| d.start).map_or("unknown".into(), |d| d.to_string());
        println!("cache level {}: the run {what}{earlier}; image disk at the start: {disk}", self.cache_level);
        h
    }
}

/// `image disk 1.23 GB in 3 images`: what the run's kind of images hold now (after the latest instance), for the
/// progress line.
pub fn disk_note(h: &Harness) -> Option<String> {
    h.image_disk().and_then(|d| d.now).map(|d| format!("image disk {d}"))
}

/// The end of a run for its images: removes what goes at the end and prints what the run removed and the disk.
pub async fn finish_images(h: &Harness) {
    let Some(r) = h.finish_images().await else { return };
    let removed = match r.removed.len() {
        0 => "removed no image".to_string(),
        n => {
            let shown: Vec<&str> = r.removed.iter().take(3).map(String::as_str).collect();
            let more = if n > shown.len() { ", ..." } else { "" };
            format!("removed {n} image{} ({}{more})", if n == 1 { "" } else { "s" }, shown.join(", "))
        }
    };
    let failed = match r.failed {
        0 => String::new(),
        n => format!(", {n} removal(s) refused (see the warnings)"),
    };
    let fig = |d: Option<srl_sandbox::ImagesDisk>| d.map_or("unknown".into(), |d| d.to_string());
    println!("cache level {}: {removed}{failed}", r.options.level);
    println!(
        "image disk (images named srl-swe/... or after --image-template, each layer counted once): {} at the end, {} \
         at most, {} at the start",
        fig(r.disk.now),
        r.disk.peak.map_or("unknown".into(), |d| srl_sandbox::human_bytes(d.bytes)),
        r.disk.start.map_or("unknown".into(), |d| srl_sandbox::human_bytes(d.bytes)),
    );
}

/// The dataset a command names: `--dataset FILE` or `--split NAME`, else `default`.
pub fn dataset_source(split: Option<&str>, dataset: Option<&Path>, default: DatasetSource) -> DatasetSource {
    match (dataset, split) {
        (Some(d), _) => DatasetSource::File(d.to_path_buf()),
        (None, Some(s)) => DatasetSource::parse(s),
        (None, None) => default,
    }
}

/// A short name of a dataset for run ids: the split, or the file's stem.
pub fn source_name(source: &DatasetSource) -> String {
    match source {
        DatasetSource::Split(s) => s.as_str().to_string(),
        DatasetSource::Bundled => "bundled".into(),
        DatasetSource::File(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or("dataset".into()),
    }
}

/// A harness over `instances` on `hosts` with the images and repositories `paths` names; image builds report on
/// `bar`.
pub fn harness(
    paths: &Paths,
    hosts: &Hosts,
    bar: &ProgressBar,
    instances: Vec<Instance>,
    options: HarnessOptions,
) -> anyhow::Result<Harness> {
    let builder = paths.builder(&hosts.first().sandbox, bar)?;
    let tasks = TaskSet { instances, tasks_dir: Some(paths.tasks_dir()), mirror_dir: paths.mirror_dir.clone() };
    Ok(Harness::new(hosts.clone(), builder, tasks, options))
}

/// The policy and how the agent runs it (`eval --policy`, `rollout`).
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// The policy: a model folder (Hugging Face layout, a PEFT adapter, or a trainer's `final/`), a repo id in the
    /// local Hugging Face cache, `http://HOST:PORT/v1` or `https://...` (an OpenAI-compatible server such as vLLM
    /// or SGLang), or `scripted:PATH` (replays the trajectories in PATH).
    #[arg(long)]
    pub policy: Option<String>,
    /// The served model name (for `http(s)://` policies).
    #[arg(long)]
    pub model: Option<String>,
    /// Environment variable holding the API key of an `http(s)://` policy.
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// A PEM certificate to trust for an `https://` policy (e.g. a private CA); default: the SRL_CA_CERT
    /// environment variable, then the system's and Mozilla's roots.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// New tokens per policy call.
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: usize,
    /// Sampling seed (call t of an episode uses seed + t).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `cpu`, `cuda` or `cuda:N` (candle policies; CUDA needs the `cuda` build feature).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Policy calls per episode (SWE-smith's runs: 75).
    #[arg(long, default_value_t = 75)]
    pub max_steps: usize,
    /// Format errors in a row that end an episode.
    #[arg(long, default_value_t = 3)]
    pub max_format_errors: usize,
    /// Prompt + completion tokens per episode (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub token_budget: u64,
    /// Wall-clock seconds per episode (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub time_budget: u64,
    /// Time limit of each bash action, seconds.
    #[arg(long, default_value_t = 60)]
    pub step_timeout: u64,
    /// `standard`, or `oracle-edit` (the gold-patched files' contents in the prompt, str_replace edits only).
    #[arg(long, default_value = "standard", value_parser = choice::<srl_agent::Mode>())]
    pub mode: srl_agent::Mode,
    /// How prompts are rendered, a JSON file (`PromptConfig`); default: the policy folder's `prompt.json` (what
    /// `srl-swe train` writes beside `final/`), else the defaults. The flags below override single fields.
    #[arg(long)]
    pub prompt_config: Option<PathBuf>,
    /// Past action/observation rounds in each prompt, a number or `all` (default 2; must match training).
    #[arg(long)]
    pub window: Option<Window>,
    /// Longest observation in a prompt, characters (default 8000; must match training).
    #[arg(long)]
    pub max_observation_chars: Option<usize>,
    /// `swe-agent` (default), `compact` or `instruct` system message (must match training).
    #[arg(long, value_parser = choice::<SystemPrompt>())]
    pub system_prompt: Option<SystemPrompt>,
    /// `swe-smith` (default) or `compact` task message (must match training).
    #[arg(long, value_parser = choice::<TaskPrompt>())]
    pub task_prompt: Option<TaskPrompt>,
    /// Cut the issue text to this many characters (0: whole; must match training).
    #[arg(long)]
    pub max_task_chars: Option<usize>,
    /// The start of each assistant turn, continued by the model (e.g. `$'<think>\n'`; must match training; default:
    /// the policy folder's prompt.json, else none).
    #[arg(long)]
    pub prefill: Option<String>,
}

impl PolicyArgs {
    /// The policy `--policy` names, loaded.
    pub fn build(&self) -> anyhow::Result<Box<dyn srl_agent::AgentPolicy>> {
        let Some(spec) = &self.policy else { bail!("give --policy MODEL_DIR|http://HOST:PORT/v1|scripted:PATH") };
        let opts = srl_agent::PolicyBuildOptions {
            model: self.model.clone(),
            api_key_env: self.api_key_env.clone(),
            ca_cert: self.ca_cert.clone(),
            sampling: SamplingParams { temperature: self.temperature, ..SamplingParams::greedy(self.max_tokens) },
            seed: self.seed,
            device: self.device,
            ..srl_agent::PolicyBuildOptions::default()
        };
        srl_agent::build_policy(spec, &opts).with_context(|| format!("loading --policy {spec}"))
    }

    /// The prompt settings: `--prompt-config`, else the policy folder's `prompt.json`, else the defaults; then the
    /// flags. Returns where they came from too.
    fn prompt(&self) -> anyhow::Result<(PromptConfig, String)> {
        let (mut p, from) = match (&self.prompt_config, self.policy.as_deref()) {
            (Some(f), _) => {
                let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
                let p: PromptConfig =
                    serde_json::from_str(&text).with_context(|| format!("{}: not a prompt config", f.display()))?;
                (p, f.display().to_string())
            }
            (None, Some(policy)) if Path::new(policy).is_dir() => {
                match srl_policy::TrainedModel::open(Path::new(policy))?.prompt {
                    Some((file, p)) => (p, file.display().to_string()),
                    None => (PromptConfig::default(), "defaults".to_string()),
                }
            }
            _ => (PromptConfig::default(), "defaults".to_string()),
        };
        if let Some(w) = self.window {
            p.window = w;
        }
        if let Some(n) = self.max_observation_chars {
            p.max_observation_chars = n;
        }
        if let Some(s) = self.system_prompt {
            p.system = s;
        }
        if let Some(t) = self.task_prompt {
            p.task = t;
        }
        if let Some(n) = self.max_task_chars {
            p.max_task_chars = n;
        }
        if let Some(s) = &self.prefill {
            p.prefill = s.clone();
        }
        Ok((p, from))
    }

    /// The agent's settings; prints the prompt settings and where they came from.
    pub fn config(&self) -> anyhow::Result<srl_agent::AgentConfig> {
        let (prompt, from) = self.prompt()?;
        println!(
            "prompts: window {}, system {}, task {}, observations <= {} chars, issue {}, prefill {:?} (from {from})",
            prompt.window,
            prompt.system,
            prompt.task,
            prompt.max_observation_chars,
            match prompt.max_task_chars {
                0 => "whole".to_string(),
                n => format!("<= {n} chars"),
            },
            prompt.prefill
        );
        let cfg = srl_agent::AgentConfig {
            prompt,
            max_steps: self.max_steps,
            max_format_errors: self.max_format_errors,
            max_total_tokens: (self.token_budget > 0).then_some(self.token_budget),
            time_budget: (self.time_budget > 0).then(|| Duration::from_secs(self.time_budget)),
            mode: self.mode,
            exec_timeout: Duration::from_secs(self.step_timeout),
            ..srl_agent::AgentConfig::default()
        };
        cfg.validate()?;
        Ok(cfg)
    }
}
