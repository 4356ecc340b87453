//! Step-level evaluation: a policy's completions on step examples, scored with the SRL reward against the expert's
//! action. The trainer's validation and `srl-swe model eval-steps` both call [`evaluate_steps`].

use std::collections::BTreeMap;

use serde::Serialize;
use srl_data::StepExample;
use srl_policy::{Policy, SampleOptions, SamplingParams};
use srl_reward::{Metric, Scored, Scorer};

use crate::error::Result;

/// How completions are drawn and scored.
#[derive(Clone, Debug, PartialEq)]
pub struct StepEvalOptions {
    /// Completions per example (1 with greedy parameters: the trainer's validation).
    pub samples: usize,
    /// Seed of every sampling batch.
    pub seed: u64,
    pub params: SamplingParams,
    pub metric: Metric,
    /// Examples sampled together.
    pub batch: usize,
    /// The start of the assistant turn that the prompts end with ([`srl_core::PromptConfig::prefill`]): scored
    /// (and reported) followed by each completion.
    pub prefill: String,
}

impl StepEvalOptions {
    /// One greedy completion per example, up to `max_new_tokens` tokens.
    pub fn greedy(max_new_tokens: usize, metric: Metric) -> StepEvalOptions {
        StepEvalOptions {
            samples: 1,
            seed: 0,
            params: SamplingParams::greedy(max_new_tokens),
            metric,
            batch: 16,
            prefill: String::new(),
        }
    }
}

/// One scored completion (a JSON line of `srl-swe model eval-steps`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepResult {
    pub instance_id: String,
    pub step_index: usize,
    pub action_kind: &'static str,
    /// Which completion of the example (0-based).
    pub sample: usize,
    /// -1 when malformed, else the similarity to the expert's action.
    pub reward: f64,
    pub format_ok: bool,
    /// The completion's call, rendered canonically, when it parsed.
    pub action: Option<String>,
    /// Why the completion is malformed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub expert_action: String,
    pub completion: String,
}

/// Counts and sums over completions.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Tally {
    pub completions: usize,
    pub well_formed: usize,
    pub reward_sum: f64,
    /// Sum of the rewards of well-formed completions (malformed ones count 0).
    pub similarity_sum: f64,
    /// Counts: malformed, [0, .25), [.25, .5), [.5, .75), [.75, 1), exactly 1.
    pub reward_hist: [usize; 6],
}

impl Tally {
    fn add(&mut self, s: &Scored) {
        self.completions += 1;
        self.reward_sum += s.reward;
        let bucket = if !s.format_ok {
            0
        } else {
            self.well_formed += 1;
            self.similarity_sum += s.reward;
            if s.reward >= 1.0 { 5 } else { 1 + (s.reward.max(0.0) * 4.0) as usize }
        };
        self.reward_hist[bucket.min(5)] += 1;
    }

    pub fn format_rate(&self) -> f64 {
        self.well_formed as f64 / self.completions.max(1) as f64
    }

    pub fn reward_mean(&self) -> f64 {
        self.reward_sum / self.completions.max(1) as f64
    }

    /// Mean similarity to the expert's action, malformed completions counting 0.
    pub fn similarity(&self) -> f64 {
        self.similarity_sum / self.completions.max(1) as f64
    }
}

/// The whole evaluation and its split by the expert action's kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StepEvalSummary {
    pub examples: usize,
    pub all: Tally,
    pub by_kind: BTreeMap<&'static str, Tally>,
}

/// Samples `opts.samples` completions for each example (its prompt from `prompt_ids(index)`, so callers keep their
/// prompt budget and cache), scores each, hands it to `on_result` in example order, and returns the tallies.
pub fn evaluate_steps(
    policy: &Policy,
    examples: &[StepExample],
    prompt_ids: &mut dyn FnMut(usize) -> Result<Vec<u32>>,
    opts: &StepEvalOptions,
    on_result: &mut dyn FnMut(&StepResult),
) -> Result<StepEvalSummary> {
    let mut summary = StepEvalSummary { examples: examples.len(), ..Default::default() };
    let sample = SampleOptions { n: opts.samples.max(1), seed: opts.seed, params: opts.params };
    let batch = opts.batch.max(1);
    for start in (0..examples.len()).step_by(batch) {
        let end = (start + batch).min(examples.len());
        let prompts: Vec<Vec<u32>> = (start..end).map(&mut *prompt_ids).collect::<Result<_>>()?;
        let comps = policy.sample(&prompts, &sample)?;
        for (k, c) in comps.iter().enumerate() {
            let e = &examples[start + c.prompt_index];
            let text = format!("{}{}", opts.prefill, c.text);
            let s = Scorer::new(&e.expert_action, opts.metric).score(&text);
            summary.all.add(&s);
            summary.by_kind.entry(e.action_kind.as_str()).or_default().add(&s);
            on_result(&StepResult {
                instance_id: e.instance_id.clone(),
                step_index: e.step_index,
                action_kind: e.action_kind.as_str(),
                sample: k % sample.n,
                reward: s.reward,
                format_ok: s.format_ok,
                action: s.action,
                error: s.error,
                expert_action: e.expert_action.clone(),
                completion: text,
            });
        }
    }
    Ok(summary)
}
