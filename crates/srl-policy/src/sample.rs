//! Sampling options ([`SampleOptions`]: count and seed around [`SamplingParams`]), completions, and the per-row token choice (temperature, top-k, top-p).

use rand::Rng;
use serde::{Deserialize, Serialize};
use srl_core::SamplingParams;

/// How to sample completions: how many per prompt, the seed, and the sampling parameters. `Default`: one
/// completion, seed 0, temperature 1, no top-k/top-p cut, 256 new tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleOptions {
    /// Completions per prompt (GRPO's group size G).
    pub n: usize,
    /// Row `j` of the call (prompt `i`, sample `s`: `j = i * n + s`) draws from ChaCha8 stream `j` of this seed,
    /// so a completion does not depend on which rows finish first.
    pub seed: u64,
    /// Temperature (0: greedy), top-p, top-k and the new-token limit.
    pub params: SamplingParams,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions { n: 1, seed: 0, params: SamplingParams { max_new_tokens: 256, ..SamplingParams::default() } }
    }
}

/// Where the time of one [`crate::Policy::sample_timed`] call went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleTiming {
    /// The prompts' forward pass and the logits of their last positions.
    pub prefill_secs: f64,
    /// Everything after it: choosing tokens and the forward passes of the new ones.
    pub decode_secs: f64,
}

/// Why a completion ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// It produced a stop token (`<|im_end|>` or an eos id); the token is the last of `ids`.
    Stop,
    /// It reached `max_new_tokens`.
    Length,
    /// Its text after `</think>` holds a complete call ([`srl_core::first_call_end`]); the last of `ids` is the
    /// token that closed it. Whatever could follow would make the completion malformed, so sampling stops there.
    Call,
}

/// One sampled completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Index of its prompt in the call.
    pub prompt_index: usize,
    /// The new tokens, the stop token included when `finish == Stop`.
    pub ids: Vec<u32>,
    /// The decoded text of `ids`, special tokens skipped.
    pub text: String,
    /// Per token of `ids`: its log-probability under the sampling weights at temperature 1 (the model's own
    /// distribution, before temperature, top-k and top-p), i.e. what [`crate::Policy::logprobs`] recomputes;
    /// GRPO's old log-probs.
    pub logprobs: Vec<f32>,
    pub finish: FinishReason,
}

/// Log-softmax of `logits` at `token` (f64 accumulation).
pub fn token_logprob(logits: &[f32], token: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&x| (x as f64 - max).exp()).sum();
    (logits[token] as f64 - max - sum.ln()) as f32
}

/// Picks the next token from one row of logits.
pub fn choose(logits: &[f32], opts: &SamplingParams, rng: &mut impl Rng) -> usize {
    if opts.temperature <= 0.0 {
        let mut best = 0;
        for (i, &x) in logits.iter().enumerate() {
            if x > logits[best] {
                best = i;
            }
        }
        return best;
    }
    let v = logits.len();
    let mut cand: Vec<(usize, f32)> = logits.iter().copied().enumerate().collect();
    let order = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let cut_k = opts.top_k > 0 && opts.top_k < v;
    let cut_p = opts.top_p < 1.0;
    if cut_k {
        cand.select_nth_unstable_by(opts.top_k - 1, order);
        cand.truncate(opts.top_k);
    }
    if cut_k || cut_p {
        cand.sort_unstable_by(order);
    }
    let t = opts.temperature;
    let max = cand.iter().map(|c| c.1).fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut probs: Vec<f64> = cand.iter().map(|c| ((c.1 as f64 - max) / t).exp()).collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if cut_p {
        let mut acc = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if acc >= opts.top_p {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep);
        cand.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (c, p) in cand.iter().zip(&probs) {
        if u < *p {
            return c.0;
        }
        u -= p;
    }
    cand.last().map(|c| c.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn greedy_top_k_and_top_p() {
        let logits = [0.0f32, 3.0, 1.0, 2.9];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let greedy = SamplingParams::greedy(256);
        assert_eq!(choose(&logits, &greedy, &mut rng), 1);
        let k2 = SamplingParams { top_k: 2, ..Default::default() };
        for _ in 0..50 {
            assert!(matches!(choose(&logits, &k2, &mut rng), 1 | 3));
        }
        let p = SamplingParams { top_p: 0.01, ..Default::default() };
        for _ in 0..20 {
            assert_eq!(choose(&logits, &p, &mut rng), 1);
        }
        let lp = token_logprob(&logits, 1);
        let z: f64 = logits.iter().map(|&x| (x as f64).exp()).sum();
        assert!((lp as f64 - (3.0 - z.ln())).abs() < 1e-6);
    }
}
