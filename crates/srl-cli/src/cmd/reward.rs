//! `srl-swe reward ...`: the reward as a command, JSON Lines in and out, in input order. Pairs are scored on every
//! core (rayon; the values do not depend on the thread that computes them, the output keeps the input order).
//! `similarity` reads the whole input once, then parses and scores its lines together on every core (strings
//! borrowed from the input where they have no escapes), in small chunks so that a few long pairs do not leave
//! a core idle, and writes the lines in one buffer.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use srl_reward::{Metric, Scorer};

use crate::support::choice;
use crate::support::io::{read_jsonl, write_jsonl};

#[derive(Debug, clap::Subcommand)]
pub enum RewardCmd {
    /// Similarity of string pairs: reads `{"a": ..., "b": ...}` lines, writes `{"ratio": ...}` lines.
    ///
    /// The default metric is exactly Python's `difflib.SequenceMatcher(None, a, b).ratio()`.
    Similarity(#[command(flatten)] JsonlArgs),
    /// Rewards of completions: reads `{"completion": ..., "expert_action": ...}` lines, writes
    /// `{"reward": ..., "format_ok": ..., "action": ...}` lines (-1 for a malformed completion).
    Score(#[command(flatten)] JsonlArgs),
}

/// Input, output and metric: shared by both reward commands.
#[derive(Debug, clap::Args)]
pub struct JsonlArgs {
    /// JSON Lines input (`-`: stdin).
    #[arg(long, short)]
    input: PathBuf,
    /// JSON Lines output (`-`: stdout).
    #[arg(long, short, default_value = "-")]
    output: PathBuf,
    /// `difflib` (the paper's reward) or `lcs` (2 * LCS / total length, via `similar`).
    #[arg(long, default_value = "difflib", value_parser = choice::<Metric>())]
    metric: Metric,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair<'a> {
    #[serde(borrow)]
    a: Cow<'a, str>,
    #[serde(borrow)]
    b: Cow<'a, str>,
}

#[derive(Serialize)]
struct Ratio {
    ratio: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreIn {
    completion: String,
    expert_action: String,
}

pub fn run(cmd: RewardCmd) -> Result<()> {
    match cmd {
        RewardCmd::Similarity(JsonlArgs { input, output, metric }) => {
            let text = srl_data::jsonl::read_to_string(&input)?;
            let ratios = similarities(&input, &text, metric)?;
            let mut buf = Vec::with_capacity(ratios.len() * 32);
            for ratio in ratios {
                srl_data::jsonl::write_line(&mut buf, &Ratio { ratio })?;
            }
            let mut out = srl_data::jsonl::open_write(&output)?;
            out.write_all(&buf).and_then(|()| out.flush()).with_context(|| format!("writing {}", output.display()))?;
        }
        RewardCmd::Score(JsonlArgs { input, output, metric }) => {
            let rows: Vec<ScoreIn> = read_jsonl(&input)?;
            let out: Vec<srl_reward::Scored> =
                rows.par_iter().map(|r| Scorer::new(&r.expert_action, metric).score(&r.completion)).collect();
            write_jsonl(&output, &out)?;
        }
    }
    Ok(())
}

/// The similarity of each `{"a", "b"}` line of `text` (blank lines skipped), in order; the first malformed line
/// is the error, named `path:line` as [`read_jsonl`] names it.
fn similarities(path: &Path, text: &str, metric: Metric) -> Result<Vec<f64>> {
    let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
    let scored: Vec<Result<f64, srl_data::DataError>> = lines
        .par_iter()
        .with_max_len(4)
        .map(|&(n, line)| {
            let p: Pair = serde_json::from_str(line).map_err(|source| srl_data::DataError::Json {
                location: format!("{}:{}", path.display(), n + 1),
                source,
            })?;
            Ok(srl_reward::similarity_with(metric, &p.a, &p.b))
        })
        .collect();
    scored.into_iter().map(|r| r.map_err(anyhow::Error::from)).collect()
}
