//! The SRL reward.
//!
//! * [`similarity`]: Python's `difflib.SequenceMatcher(None, a, b).ratio()`, to the last bit (see [`difflib`]).
//! * [`lcs_ratio`]: an LCS-based ratio through the `similar` crate (Myers diff); a different, larger number,
//!   selectable with [`Metric::Lcs`], never the default.
//! * [`reward`]: -1.0 when a completion is not `<think>...</think>` followed by exactly one well-formed call,
//!   else the similarity between the canonical renderings of its call and the expert's. The think text never
//!   counts.
//!
//! Pure functions of their inputs. [`Scorer`] prepares the expert action once for a group of G completions.

pub mod difflib;

use serde::Serialize;
use srl_core::{CallError, ToolCall, parse_completion};

pub use difflib::ratio as similarity;

srl_core::choice_enum! {
    /// Which similarity the reward uses (`"difflib"` or `"lcs"`, in configs and on the command line).
    #[derive(Default)]
    pub enum Metric: "metric" {
        /// `difflib.SequenceMatcher(None, a, b).ratio()` (the paper's reward).
        #[default]
        Difflib = "difflib",
        /// 2 * LCS / (len a + len b) over characters, through `similar`'s Myers diff.
        Lcs = "lcs",
    }
}

/// 2 * (characters in equal runs of a Myers diff) / (len a + len b); 1.0 when both are empty.
pub fn lcs_ratio(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &a, &b);
    let m: usize = ops
        .iter()
        .map(|op| match *op {
            similar::DiffOp::Equal { len, .. } => len,
            _ => 0,
        })
        .sum();
    2.0 * m as f64 / total as f64
}

/// The similarity of two strings under `metric`.
pub fn similarity_with(metric: Metric, a: &str, b: &str) -> f64 {
    match metric {
        Metric::Difflib => difflib::ratio(a, b),
        Metric::Lcs => lcs_ratio(a, b),
    }
}

/// The reward of one completion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scored {
    /// -1.0 for a format failure, else the similarity in [0, 1].
    pub reward: f64,
    pub format_ok: bool,
    /// The canonical rendering of the completion's call, when it parsed.
    pub action: Option<String>,
    /// Why the format check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The reward for a format failure.
pub const FORMAT_PENALTY: f64 = -1.0;

/// Canonical rendering of an expert action given as text: the parsed call printed back, or the text itself
/// (trimmed) when it is not one well-formed call.
pub fn canonical_action(expert_action: &str) -> String {
    match expert_action.parse::<ToolCall>() {
        Ok(call) => call.render(),
        Err(_) => expert_action.trim().to_string(),
    }
}

/// Scores completions against one expert action; prepare once, score a group.
#[derive(Clone, Debug)]
pub struct Scorer {
    metric: Metric,
    expert: String,
    target: difflib::Target,
    scratch: difflib::Scratch,
}

impl Scorer {
    pub fn new(expert_action: &str, metric: Metric) -> Self {
        let expert = canonical_action(expert_action);
        let target = difflib::Target::new(&expert);
        Self { metric, expert, target, scratch: difflib::Scratch::default() }
    }

    /// The expert action as rendered canonically.
    pub fn expert(&self) -> &str {
        &self.expert
    }

    pub fn score(&mut self, completion: &str) -> Scored {
        match parse_completion(completion) {
            Ok((_think, call)) => {
                let action = call.render();
                let reward = self.similarity(&action);
                Scored { reward, format_ok: true, action: Some(action), error: None }
            }
            Err(e) => format_failure(&e),
        }
    }

    /// Similarity of an already canonical action string with the expert's.
    pub fn similarity(&mut self, action: &str) -> f64 {
        match self.metric {
            Metric::Difflib => difflib::ratio_with(action, &self.target, &mut self.scratch),
            Metric::Lcs => lcs_ratio(action, &self.expert),
        }
    }
}

fn format_failure(e: &CallError) -> Scored {
    Scored { reward: FORMAT_PENALTY, format_ok: false, action: None, error: Some(e.to_string()) }
}

/// `reward(completion, expert_action)` with the default (difflib) metric.
pub fn reward(completion: &str, expert_action: &str) -> Scored {
    Scorer::new(expert_action, Metric::Difflib).score(completion)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPERT: &str = "<function=bash>\n<parameter=command>ls /testbed</parameter>\n</function>";

    #[test]
    fn exact_action_scores_one_whatever_the_thinking() {
        let r = reward(&format!("<think>anything at all</think>\n{EXPERT}"), EXPERT);
        assert_eq!(r.reward, 1.0);
        assert!(r.format_ok);
        let r2 = reward(&format!("<think>something else entirely, long and different</think>{EXPERT}"), EXPERT);
        assert_eq!(r2.reward, 1.0);
    }

    #[test]
    fn malformed_gets_minus_one() {
        for bad in [EXPERT.to_string(), format!("<think>x</think>{EXPERT}{EXPERT}"), "<think>x</think>".into()] {
            let r = reward(&bad, EXPERT);
            assert_eq!(r.reward, -1.0, "{bad}");
            assert!(!r.format_ok);
            assert!(r.error.is_some());
        }
    }

    #[test]
    fn partial_match_is_the_difflib_ratio_of_canonical_renderings() {
        let completion = "<think>t</think>\n<function=bash>\n<parameter=command>  ls /tmp  </parameter>\n</function>";
        let r = reward(completion, EXPERT);
        let got = "<function=bash>\n<parameter=command>ls /tmp</parameter>\n</function>";
        assert_eq!(r.action.as_deref(), Some(got));
        assert_eq!(r.reward, similarity(got, EXPERT));
        assert!(r.reward > 0.8 && r.reward < 1.0);
    }

    #[test]
    fn metric_names() {
        assert_eq!("lcs".parse::<Metric>().unwrap(), Metric::Lcs);
        assert_eq!(Metric::default().to_string(), "difflib");
        let e = "cosine".parse::<Metric>().unwrap_err().to_string();
        assert_eq!(e, "unknown metric \"cosine\": expected `difflib` or `lcs`");
    }

    #[test]
    fn lcs_is_at_least_difflib() {
        let pairs = [("abxcd", "abcd"), ("qabxcd", "abycdf"), ("the quick brown fox", "the lazy dog")];
        for (a, b) in pairs {
            assert!(lcs_ratio(a, b) >= similarity(a, b));
        }
        assert_eq!(lcs_ratio("", ""), 1.0);
        let mut s = Scorer::new(EXPERT, Metric::Lcs);
        assert_eq!(s.score(&format!("<think></think>{EXPERT}")).reward, 1.0);
    }
}
