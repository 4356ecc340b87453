//! `srl-swe data ...`: import trajectories, build step examples, describe datasets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use srl_core::{ActionKind, PromptConfig, SystemPrompt, TaskPrompt, Trajectory, Window};
use srl_data::{Format, Holdout, ImportOptions, StepOptions};

use crate::support::choice;
use crate::support::io::write_jsonl;

/// Where trajectories come from: shared by every `data` command.
#[derive(Debug, clap::Args)]
pub struct Sources {
    /// Trajectory files or folders (any supported format, canonical JSONL, or Parquet files of a Hugging Face
    /// dataset such as SWE-smith's trajectories, with the chat in a `messages` column; `-` for stdin).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Force a format instead of detecting it per record.
    #[arg(long, default_value = "auto", value_parser = choice::<Format>())]
    format: Format,
    /// Skip malformed records (each is reported) instead of stopping at the first.
    #[arg(long)]
    skip_invalid: bool,
}

impl Sources {
    fn load(&self) -> Result<Vec<Trajectory>> {
        let imported =
            srl_data::read_paths(&self.paths, &ImportOptions { format: self.format, skip_invalid: self.skip_invalid })?;
        for s in &imported.skipped {
            eprintln!("skipped {}: {}", s.location, s.error);
        }
        if !imported.skipped.is_empty() {
            eprintln!("skipped {} invalid record(s)", imported.skipped.len());
        }
        Ok(imported.trajectories)
    }
}

/// How contexts are rendered.
#[derive(Debug, clap::Args)]
pub struct PromptArgs {
    /// Past action/observation rounds in each context: a number, or `all`.
    #[arg(long, default_value = "2")]
    window: Window,
    /// Observations longer than this keep their head and tail (0: no limit).
    #[arg(long, default_value_t = PromptConfig::default().max_observation_chars)]
    max_observation_chars: usize,
    /// The system message: `swe-agent` (SWE-agent's, with the tool documentation), `compact` (the output format
    /// and the tools' parameters only) or `instruct` (compact, with two example replies: for small instruct models).
    #[arg(long, default_value = "swe-agent")]
    system_prompt: SystemPrompt,
    /// The task message: `swe-smith` (the issue inside SWE-smith's instructions) or `compact` (the issue and one
    /// line of instruction).
    #[arg(long, default_value = "swe-smith")]
    task_prompt: TaskPrompt,
    /// Task texts longer than this keep their head (0: no limit).
    #[arg(long, default_value_t = 0)]
    max_task_chars: usize,
}

impl PromptArgs {
    fn config(&self) -> PromptConfig {
        PromptConfig {
            window: self.window,
            max_observation_chars: self.max_observation_chars,
            system: self.system_prompt,
            task: self.task_prompt,
            max_task_chars: self.max_task_chars,
            prefill: String::new(),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum DataCmd {
    /// Import agent trajectories into canonical JSON Lines (one trajectory a line).
    Import {
        #[command(flatten)]
        sources: Sources,
        /// Output JSON Lines (`-`: stdout).
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Build step-wise SRL examples: one a line, for every expert action.
    Steps {
        #[command(flatten)]
        sources: Sources,
        #[command(flatten)]
        prompt: PromptArgs,
        /// Output JSON Lines of training examples (`-`: stdout).
        #[arg(long, short)]
        output: PathBuf,
        /// Drop trajectories whose outcome is known to be unresolved.
        #[arg(long)]
        drop_unresolved: bool,
        /// Hold out these instance ids (comma separated) for validation.
        #[arg(long, value_delimiter = ',')]
        holdout_ids: Vec<String>,
        /// Hold out this fraction of instance ids (chosen by a seeded hash) for validation.
        #[arg(long, default_value_t = 0.0)]
        holdout_fraction: f64,
        #[arg(long, default_value_t = 0)]
        holdout_seed: u64,
        /// Where held-out examples go (default: OUTPUT with `.valid` before its extension).
        #[arg(long)]
        valid_output: Option<PathBuf>,
    },
    /// Describe trajectories: counts, actions per tool, prompt lengths.
    Stats {
        #[command(flatten)]
        sources: Sources,
        #[command(flatten)]
        prompt: PromptArgs,
        /// A tokenizer.json (or a model folder holding one) to also count prompt tokens.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Import { sources, output } => {
            let ts = sources.load()?;
            let n = write_jsonl(&output, &ts)?;
            let steps: usize = ts.iter().map(|t| t.steps.len()).sum();
            eprintln!("imported {n} trajectories ({steps} steps) into {}", output.display());
        }
        DataCmd::Steps {
            sources,
            prompt,
            output,
            drop_unresolved,
            holdout_ids,
            holdout_fraction,
            holdout_seed,
            valid_output,
        } => {
            if !(0.0..=1.0).contains(&holdout_fraction) {
                bail!("--holdout-fraction must be between 0 and 1, got {holdout_fraction}");
            }
            let ts = sources.load()?;
            let holdout =
                Holdout { ids: holdout_ids.into_iter().collect(), fraction: holdout_fraction, seed: holdout_seed };
            let holding_out = !holdout.ids.is_empty() || holdout.fraction > 0.0;
            let opts = StepOptions { prompt: prompt.config(), drop_unresolved, holdout };
            let split = srl_data::build_examples(&ts, &opts);
            let n = write_jsonl(&output, &split.train)?;
            let mut summary = format!("wrote {n} training examples to {}", output.display());
            if holding_out {
                let valid_path = valid_output.unwrap_or_else(|| valid_path_for(&output));
                let v = write_jsonl(&valid_path, &split.valid)?;
                summary.push_str(&format!(", {v} validation examples to {}", valid_path.display()));
            }
            if split.dropped_unresolved > 0 {
                summary.push_str(&format!(" (dropped {} unresolved trajectories)", split.dropped_unresolved));
            }
            eprintln!("{summary}");
        }
        DataCmd::Stats { sources, prompt, tokenizer, json } => {
            let ts = sources.load()?;
            let tok = tokenizer.as_deref().map(load_tokenizer).transpose()?;
            let stats = compute_stats(&ts, &prompt.config(), tok.as_ref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print_stats(&stats);
            }
        }
    }
    Ok(())
}

fn valid_path_for(output: &Path) -> PathBuf {
    if output.as_os_str() == "-" {
        return PathBuf::from("valid.jsonl");
    }
    let stem = output.file_stem().and_then(|s| s.to_str()).unwrap_or("steps");
    let ext = output.extension().and_then(|s| s.to_str()).unwrap_or("jsonl");
    output.with_file_name(format!("{stem}.valid.{ext}"))
}

fn load_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer> {
    let file = if path.is_dir() { path.join("tokenizer.json") } else { path.to_path_buf() };
    tokenizers::Tokenizer::from_file(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

#[derive(Debug, Serialize)]
struct Percentiles {
    p50: usize,
    p90: usize,
    p99: usize,
    max: usize,
}

impl Percentiles {
    fn of(mut v: Vec<usize>) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Some(Percentiles { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: *v.last().unwrap() })
    }
}

#[derive(Debug, Serialize)]
struct Stats {
    trajectories: usize,
    by_format: BTreeMap<String, usize>,
    resolved: usize,
    unresolved: usize,
    outcome_unknown: usize,
    steps: usize,
    steps_per_trajectory: Option<Percentiles>,
    actions_per_tool: BTreeMap<String, usize>,
    prompt_chars: Option<Percentiles>,
    prompt_tokens: Option<Percentiles>,
    target_chars: Option<Percentiles>,
    instances: usize,
}

/// The prompt as the Qwen2.5 chat template renders it (for counting tokens).
fn chatml(messages: &[srl_core::Message]) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str("<|im_start|>");
        s.push_str(m.role.as_str());
        s.push('\n');
        s.push_str(&m.content);
        s.push_str("<|im_end|>\n");
    }
    s.push_str("<|im_start|>assistant\n");
    s
}

fn compute_stats(ts: &[Trajectory], prompt: &PromptConfig, tok: Option<&tokenizers::Tokenizer>) -> Result<Stats> {
    let mut by_format = BTreeMap::new();
    let mut actions = BTreeMap::new();
    let (mut prompt_chars, mut prompt_tokens, mut target_chars) = (Vec::new(), Vec::new(), Vec::new());
    let mut instances = BTreeSet::new();
    for t in ts {
        *by_format.entry(t.source_format.clone()).or_insert(0) += 1;
        instances.insert(t.instance_id.clone());
        for s in &t.steps {
            let key = match s.action.kind() {
                ActionKind::Other => format!("other:{}", s.action.name()),
                k => k.as_str().to_string(),
            };
            *actions.entry(key).or_insert(0) += 1;
        }
        for ex in srl_data::trajectory_examples(t, prompt) {
            prompt_chars.push(ex.messages.iter().map(|m| m.content.chars().count()).sum());
            target_chars.push(ex.expert_action.chars().count());
            if let Some(tok) = tok {
                let enc = tok
                    .encode(chatml(&ex.messages), false)
                    .map_err(|e| anyhow::anyhow!("tokenizing {} step {}: {e}", ex.instance_id, ex.step_index))
                    .context("counting prompt tokens")?;
                prompt_tokens.push(enc.len());
            }
        }
    }
    Ok(Stats {
        trajectories: ts.len(),
        by_format,
        resolved: ts.iter().filter(|t| t.resolved == Some(true)).count(),
        unresolved: ts.iter().filter(|t| t.resolved == Some(false)).count(),
        outcome_unknown: ts.iter().filter(|t| t.resolved.is_none()).count(),
        steps: ts.iter().map(|t| t.steps.len()).sum(),
        steps_per_trajectory: Percentiles::of(ts.iter().map(|t| t.steps.len()).collect()),
        actions_per_tool: actions,
        prompt_chars: Percentiles::of(prompt_chars),
        prompt_tokens: Percentiles::of(prompt_tokens),
        target_chars: Percentiles::of(target_chars),
        instances: instances.len(),
    })
}

fn print_stats(s: &Stats) {
    let pct = |p: &Option<Percentiles>| match p {
        Some(p) => format!("p50 {}  p90 {}  p99 {}  max {}", p.p50, p.p90, p.p99, p.max),
        None => "-".to_string(),
    };
    println!("trajectories        {} ({} instances)", s.trajectories, s.instances);
    for (f, n) in &s.by_format {
        println!("  {f:<18}{n}");
    }
    println!("outcome             {} resolved, {} unresolved, {} unknown", s.resolved, s.unresolved, s.outcome_unknown);
    println!("steps               {} ({})", s.steps, pct(&s.steps_per_trajectory));
    println!("actions per tool");
    for (k, n) in &s.actions_per_tool {
        println!("  {k:<18}{n}");
    }
    println!("prompt chars        {}", pct(&s.prompt_chars));
    if s.prompt_tokens.is_some() {
        println!("prompt tokens       {}", pct(&s.prompt_tokens));
    }
    println!("target chars        {}", pct(&s.target_chars));
}
