//! `srl-swe reward ...`: the reward as a command, JSON Lines in and out, in input order. Pairs are scored on every
//! core (rayon; the values do not depend on the thread that computes them, the output keeps the input order).

use std::path::PathBuf;

use anyhow::Result;
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
struct Pair {
    a: String,
    b: String,
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
            let pairs: Vec<Pair> = read_jsonl(&input)?;
            let out: Vec<Ratio> =
                pairs.par_iter().map(|p| Ratio { ratio: srl_reward::similarity_with(metric, &p.a, &p.b) }).collect();
            write_jsonl(&output, &out)?;
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
