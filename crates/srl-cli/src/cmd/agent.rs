//! The agent in the CLI: `srl-swe eval --policy ...` (run the agent on every selected instance, write its
//! trajectories and SWE-bench predictions, grade them) and `srl-swe rollout` (a few episodes, printed live).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use srl_agent::{
    AgentConfig, AgentPolicy, Episode, Mode, PolicyBuildOptions, StepEvent, TrajectoryFormat, build_policy,
};
use srl_core::{Instance, PromptConfig, Window};
use srl_eval::{Harness, HarnessOptions, Prediction, RunLayout, load_source, select_instances, summarize_run};

use super::eval::{dataset_source, harness, instance_bar, print_summary, say, tail_lines};
use super::io::{write_json_atomic, write_jsonl_atomic};
use super::model::parse_device;
use super::sandbox::{Paths, block, connect, spinner};

/// The policy and how the agent runs it.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// The policy: a model folder (Hugging Face layout, a PEFT adapter, or a trainer's `final/`), a repo id in the
    /// local Hugging Face cache, `http://HOST:PORT/v1` (an OpenAI-compatible server such as vLLM or SGLang), or
    /// `scripted:PATH` (replays the trajectories in PATH).
    #[arg(long)]
    pub policy: Option<String>,
    /// The served model name (for `http://` policies).
    #[arg(long)]
    pub model: Option<String>,
    /// Environment variable holding the API key of an `http://` policy.
    #[arg(long)]
    pub api_key_env: Option<String>,
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
    pub device: String,
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
    #[arg(long, default_value = "standard")]
    pub mode: String,
    /// How prompts are rendered, a JSON file (`PromptConfig`); default: the policy folder's `prompt.json` (what
    /// `srl-swe train` writes beside `final/`), else the defaults. The flags below override single fields.
    #[arg(long)]
    pub prompt_config: Option<PathBuf>,
    /// Past action/observation rounds in each prompt, a number or `all` (default 2; must match training).
    #[arg(long)]
    pub window: Option<String>,
    /// Longest observation in a prompt, characters (default 8000; must match training).
    #[arg(long)]
    pub max_observation_chars: Option<usize>,
    /// `swe-agent` (default) or `compact` system message (must match training).
    #[arg(long)]
    pub system_prompt: Option<String>,
    /// `swe-smith` (default) or `compact` task message (must match training).
    #[arg(long)]
    pub task_prompt: Option<String>,
    /// Cut the issue text to this many characters (0: whole; must match training).
    #[arg(long)]
    pub max_task_chars: Option<usize>,
}

/// The `prompt.json` a trainer wrote beside a policy folder: in it, or in its parent (`final/model` -> `final/`).
fn prompt_file_beside(policy: &str) -> Option<PathBuf> {
    let dir = Path::new(policy);
    if !dir.is_dir() {
        return None;
    }
    let candidates = [Some(dir.to_path_buf()), dir.parent().map(Path::to_path_buf)];
    candidates.into_iter().flatten().map(|d| d.join(srl_core::prompt::PROMPT_CONFIG_FILE)).find(|p| p.is_file())
}

impl PolicyArgs {
    fn build(&self) -> anyhow::Result<Box<dyn AgentPolicy>> {
        let Some(spec) = &self.policy else { bail!("give --policy MODEL_DIR|http://HOST:PORT/v1|scripted:PATH") };
        let device = parse_device(&self.device)?;
        let opts = PolicyBuildOptions {
            model: self.model.clone(),
            api_key_env: self.api_key_env.clone(),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            seed: self.seed,
            device,
            ..PolicyBuildOptions::default()
        };
        build_policy(spec, &opts).with_context(|| format!("loading --policy {spec}"))
    }

    /// The prompt settings: `--prompt-config`, else the policy's `prompt.json`, else the defaults; then the flags.
    /// Returns where they came from too.
    fn prompt(&self) -> anyhow::Result<(PromptConfig, String)> {
        let file = self.prompt_config.clone().or_else(|| self.policy.as_deref().and_then(prompt_file_beside));
        let (mut p, from) = match file {
            Some(f) => {
                let text = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
                let p: PromptConfig =
                    serde_json::from_str(&text).with_context(|| format!("{}: not a prompt config", f.display()))?;
                (p, f.display().to_string())
            }
            None => (PromptConfig::default(), "defaults".to_string()),
        };
        if let Some(w) = &self.window {
            p.window = w.parse::<Window>().map_err(|e| anyhow::anyhow!("--window: {e}"))?;
        }
        if let Some(n) = self.max_observation_chars {
            p.max_observation_chars = n;
        }
        if let Some(s) = &self.system_prompt {
            p.system = s.parse().map_err(|e| anyhow::anyhow!("--system-prompt: {e}"))?;
        }
        if let Some(s) = &self.task_prompt {
            p.task = s.parse().map_err(|e| anyhow::anyhow!("--task-prompt: {e}"))?;
        }
        if let Some(n) = self.max_task_chars {
            p.max_task_chars = n;
        }
        Ok((p, from))
    }

    fn config(&self) -> anyhow::Result<AgentConfig> {
        let mode: Mode = self.mode.parse().map_err(|e| anyhow::anyhow!("--mode: {e}"))?;
        let (prompt, from) = self.prompt()?;
        println!(
            "prompts: window {}, system {}, task {}, observations <= {} chars, issue {} (from {from})",
            prompt.window,
            prompt.system.name(),
            prompt.task.name(),
            prompt.max_observation_chars,
            match prompt.max_task_chars {
                0 => "whole".to_string(),
                n => format!("<= {n} chars"),
            }
        );
        let cfg = AgentConfig {
            prompt,
            max_steps: self.max_steps,
            max_format_errors: self.max_format_errors,
            max_total_tokens: (self.token_budget > 0).then_some(self.token_budget),
            time_budget: (self.time_budget > 0).then(|| Duration::from_secs(self.time_budget)),
            mode,
            exec_timeout: Duration::from_secs(self.step_timeout),
            ..AgentConfig::default()
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Files the agent writes per instance, beside the grading files.
const PREDICTION_FILE: &str = "prediction.json";
const TRAJECTORY_FILE: &str = "trajectory.jsonl";
const EPISODE_FILE: &str = "episode.json";

/// Runs the agent on `instance` in a fresh container and writes its trajectory, episode and prediction into
/// `dir` (`prediction.json` last: its presence means the episode is done). Never fails on the instance's account:
/// a container that cannot start gives an empty prediction and the reason in `episode.json`.
async fn run_agent(
    h: &Harness,
    policy: &dyn AgentPolicy,
    inst: &Instance,
    cfg: &AgentConfig,
    dir: &Path,
) -> anyhow::Result<(Prediction, String)> {
    let prediction = |patch: Option<String>| Prediction {
        instance_id: inst.instance_id.clone(),
        model_name_or_path: policy.model_name(),
        model_patch: patch,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (pred, what) = match h.start(inst).await {
        Err((kind, message)) => {
            let note = serde_json::json!({"instance_id": inst.instance_id, "exit": "sandbox_error", "error": kind,
                "message": message});
            write_json_atomic(&dir.join(EPISODE_FILE), &note)?;
            (prediction(Some(String::new())), format!("no episode: {}", tail_lines(&message, 2)))
        }
        Ok(c) => {
            let ep = srl_agent::run_episode(policy, &c, inst, cfg, &mut |_| {}).await;
            c.remove().await.ok();
            let ep = ep?;
            write_episode(&ep, dir)?;
            let what = format!(
                "{} after {} calls ({} format errors), patch of {} bytes",
                ep.exit.as_str(),
                ep.steps,
                ep.format_errors,
                ep.patch.as_deref().map_or(0, str::len)
            );
            (prediction(Some(ep.patch.clone().unwrap_or_default())), what)
        }
    };
    write_json_atomic(&dir.join(PREDICTION_FILE), &pred)?;
    Ok((pred, what))
}

fn write_episode(ep: &Episode, dir: &Path) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{TRAJECTORY_FILE}.tmp"));
    ep.write_trajectory(&tmp, TrajectoryFormat::Canonical)?;
    std::fs::rename(&tmp, dir.join(TRAJECTORY_FILE)).with_context(|| format!("writing {}", dir.display()))?;
    write_json_atomic(&dir.join(EPISODE_FILE), ep)?;
    Ok(())
}

fn read_prediction(path: &Path) -> Option<Prediction> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// `srl-swe eval --policy ...`: per instance, the agent's episode (skipped when its prediction exists), then the
/// grading of its patch (skipped when graded, unless `rerun`); then predictions.jsonl and summary.json.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_policy(
    paths: &Paths,
    pargs: &PolicyArgs,
    dataset: &[Instance],
    instances: &[Instance],
    layout: &RunLayout,
    options: HarnessOptions,
    max_workers: usize,
    rerun: bool,
) -> anyhow::Result<()> {
    let cfg = pargs.config()?;
    let policy = pargs.build()?;
    let model = policy.model_name();
    println!(
        "run {}: agent {model} ({} mode, {} steps max) on {} instances, {} at a time",
        layout.run_id,
        pargs.mode,
        cfg.max_steps,
        instances.len(),
        max_workers.max(1)
    );
    let predictions = block(async {
        let sb = connect().await?.with_run_id(layout.run_id.clone());
        let spin = spinner();
        let h = harness(paths, &sb, &spin, instances.to_vec(), options)?;
        spin.finish_and_clear();
        let bar = instance_bar(instances.len());
        let (mut done, mut resolved) = (0usize, 0usize);
        let jobs = instances.iter().map(|inst| {
            let (h, policy, cfg) = (&h, &*policy, &cfg);
            let dir = layout.instance_dir(&model, &inst.instance_id);
            async move {
                let existing = read_prediction(&dir.join(PREDICTION_FILE));
                let (pred, what) = match existing {
                    Some(p) => (p, "episode done earlier".to_string()),
                    None => run_agent(h, policy, inst, cfg, &dir).await?,
                };
                let graded = !rerun && layout.is_graded(&pred.model_name_or_path, &inst.instance_id);
                let verdict = if pred.is_empty() {
                    "empty patch: not graded".to_string()
                } else if graded {
                    let r = layout.read_report(&pred.model_name_or_path, &inst.instance_id);
                    if r.is_some_and(|r| r.resolved) {
                        "resolved (graded earlier)"
                    } else {
                        "not resolved (graded earlier)"
                    }
                    .to_string()
                } else {
                    let ev = h.evaluate(inst, &pred).await;
                    ev.write(layout)?;
                    match ev.error() {
                        Some(kind) => {
                            format!("error ({kind:?}): {}", tail_lines(ev.extras.message.as_deref().unwrap_or(""), 2))
                        }
                        None if ev.resolved() => "resolved".into(),
                        None => "not resolved".into(),
                    }
                };
                anyhow::Ok((pred, format!("{}: {what}; {verdict}", inst.instance_id)))
            }
        });
        let mut stream = futures_util::stream::iter(jobs).buffer_unordered(max_workers.max(1));
        let mut preds = Vec::new();
        while let Some(r) = stream.next().await {
            let (pred, line) = r?;
            done += 1;
            resolved += usize::from(
                layout.read_report(&pred.model_name_or_path, &pred.instance_id).is_some_and(|r| r.resolved),
            );
            say(&bar, line);
            bar.set_message(format!("resolved {resolved}/{done}"));
            bar.inc(1);
            preds.push(pred);
        }
        bar.finish_and_clear();
        Ok(preds)
    })?;
    let mut predictions = predictions;
    let order: std::collections::HashMap<&str, usize> =
        instances.iter().enumerate().map(|(i, x)| (x.instance_id.as_str(), i)).collect();
    predictions.sort_by_key(|p| order.get(p.instance_id.as_str()).copied().unwrap_or(usize::MAX));
    let pred_path = layout.run_dir().join("predictions.jsonl");
    write_jsonl_atomic(&pred_path, &predictions)?;
    println!("predictions: {}", pred_path.display());
    let summary = summarize_run(dataset, &predictions, layout);
    let path = layout.write_summary(&summary)?;
    print_summary(&summary, &path);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Instance id(s) to run (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    pub task: Vec<String>,
    /// `verified`, `lite`, `full` or `bundled` (default: bundled, unless --dataset is given).
    #[arg(long, conflicts_with = "dataset")]
    pub split: Option<String>,
    #[command(flatten)]
    pub paths: Paths,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Episodes per task (episode e samples with seed + 1000 e).
    #[arg(long, default_value_t = 1)]
    pub episodes: usize,
    /// Write each episode's trajectory (canonical JSONL) and episode.json under this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print each raw completion too.
    #[arg(long)]
    pub raw: bool,
    /// Lines of each observation printed (the trajectory keeps all of it).
    #[arg(long, default_value_t = 30)]
    pub show_lines: usize,
}

fn head(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let mut out = lines[..lines.len().min(n)].join("\n");
    if lines.len() > n {
        out += &format!("\n[... {} more lines]", lines.len() - n);
    }
    out
}

/// `srl-swe rollout`: a few episodes, printed live (thought, action, observation).
pub fn rollout(args: RolloutArgs) -> anyhow::Result<()> {
    let split = args.split.clone().unwrap_or_else(|| "bundled".into());
    let source = dataset_source(Some(&split), args.paths.dataset.as_deref());
    let dataset = load_source(&source, Path::new(".")).context("loading the dataset")?;
    let instances = select_instances(dataset, &args.task)?;
    let base_cfg = args.policy.config()?;
    let mut pargs = args.policy.clone();
    block(async {
        let sb = connect().await?;
        let spin = spinner();
        let h = harness(&args.paths, &sb, &spin, instances.clone(), HarnessOptions::default())?;
        spin.finish_and_clear();
        for inst in &instances {
            for e in 0..args.episodes.max(1) {
                pargs.seed = args.policy.seed + 1000 * e as u64;
                let policy = pargs.build()?;
                let c = h.start(inst).await.map_err(|(_, m)| anyhow::anyhow!("{}: {m}", inst.instance_id))?;
                let (raw, n) = (args.raw, args.show_lines);
                let mut show = |ev: &StepEvent| print_event(ev, raw, n);
                let ep = srl_agent::run_episode(&*policy, &c, inst, &base_cfg, &mut show).await;
                c.remove().await.ok();
                let ep = ep?;
                if let Some(out) = &args.out {
                    let dir = out.join(format!("{}-{e}", inst.instance_id));
                    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                    write_episode(&ep, &dir)?;
                    println!("wrote {}", dir.display());
                }
            }
        }
        Ok(())
    })
}

fn print_event(ev: &StepEvent, raw: bool, lines: usize) {
    match ev {
        StepEvent::Started { instance_id, model, mode } => {
            println!("=== {instance_id} with {model} ({mode:?} mode)");
        }
        StepEvent::Completion { turn, text, usage } => {
            if raw {
                println!(
                    "--- completion {} ({:?} prompt, {:?} completion tokens)\n{text}",
                    turn + 1,
                    usage.prompt,
                    usage.completion
                );
            }
        }
        StepEvent::Action { step_index, step, exit_code, timed_out, tool_error, .. } => {
            println!("--- step {}", step_index + 1);
            if !step.thought.trim().is_empty() {
                println!("THOUGHT: {}", step.thought.trim());
            }
            println!("ACTION:\n{}", step.action.render());
            let status = match (exit_code, timed_out, tool_error) {
                (_, true, _) => " (timed out)".to_string(),
                (_, _, true) => " (tool error)".to_string(),
                (Some(c), _, _) if *c != 0 => format!(" (exit {c})"),
                _ => String::new(),
            };
            println!("OBSERVATION{status}:\n{}", head(&step.observation, lines));
        }
        StepEvent::FormatError { turn, error, consecutive, .. } => {
            println!("--- call {}: format error ({consecutive} in a row): {error}", turn + 1);
        }
        StepEvent::Finished { exit, steps, actions, format_errors } => {
            println!("=== {} after {steps} calls: {actions} actions, {format_errors} format errors", exit.as_str());
        }
    }
}
