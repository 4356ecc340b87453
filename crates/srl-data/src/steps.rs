//! Step-wise SRL examples: one per expert action.
//!
//! Example k of a trajectory has as context [`srl_core::render_prompt`] of the task and steps `0..k` (the
//! first action's context is the task alone), and as target the canonical rendering of step k's call. The
//! expert's reasoning is kept beside it (`expert_thought`), never in the target.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use srl_core::{ActionKind, Message, PromptConfig, Trajectory, render_prompt};

/// One training example.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepExample {
    pub instance_id: String,
    /// 0-based index of the expert action in its trajectory.
    pub step_index: usize,
    /// Number of actions in the trajectory.
    pub n_steps: usize,
    /// The context: system, task, then the last K action/observation rounds.
    pub messages: Vec<Message>,
    /// The target: the canonical rendering of the expert's call.
    pub expert_action: String,
    /// The expert's reasoning before the call (not part of the target).
    pub expert_thought: String,
    /// What the expert action does.
    pub action_kind: ActionKind,
    /// Where the trajectory came from.
    #[serde(default)]
    pub source: String,
    /// The trajectory's outcome, when known.
    #[serde(default)]
    pub resolved: Option<bool>,
}

/// Which whole trajectories go to validation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Holdout {
    /// Instance ids held out.
    pub ids: BTreeSet<String>,
    /// Fraction of instance ids held out, chosen by a seeded hash of the id (stable across runs and orders;
    /// every trajectory of an instance lands on the same side).
    pub fraction: f64,
    pub seed: u64,
}

impl Holdout {
    pub fn is_held_out(&self, instance_id: &str) -> bool {
        if self.ids.contains(instance_id) {
            return true;
        }
        if self.fraction <= 0.0 {
            return false;
        }
        // FNV-1a over the seed and the id, mapped to [0, 1).
        let mut h: u64 = 0xcbf29ce484222325;
        for b in self.seed.to_le_bytes().iter().chain(instance_id.as_bytes()) {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        // A final mix so that nearby ids spread evenly.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51afd7ed558ccd);
        h ^= h >> 33;
        ((h >> 11) as f64 / (1u64 << 53) as f64) < self.fraction
    }
}

/// Options of [`build_examples`].
#[derive(Clone, Debug, Default)]
pub struct StepOptions {
    pub prompt: PromptConfig,
    /// Drop trajectories whose outcome is known to be unresolved (unknown outcomes are kept).
    pub drop_unresolved: bool,
    pub holdout: Holdout,
}

/// Examples split into training and validation, with what was dropped.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub train: Vec<StepExample>,
    pub valid: Vec<StepExample>,
    /// Trajectories dropped because they are known to be unresolved.
    pub dropped_unresolved: usize,
}

/// The examples of one trajectory.
pub fn trajectory_examples(t: &Trajectory, prompt: &PromptConfig) -> Vec<StepExample> {
    let n = t.steps.len();
    (0..n)
        .map(|k| {
            let step = &t.steps[k];
            StepExample {
                instance_id: t.instance_id.clone(),
                step_index: k,
                n_steps: n,
                messages: render_prompt(&t.task, &t.steps[..k], prompt),
                expert_action: step.action.render(),
                expert_thought: step.thought.clone(),
                action_kind: step.action.kind(),
                source: t.source.clone(),
                resolved: t.resolved,
            }
        })
        .collect()
}

/// All examples of `trajectories`, split by the holdout.
pub fn build_examples(trajectories: &[Trajectory], opts: &StepOptions) -> Split {
    let mut split = Split::default();
    for t in trajectories {
        if opts.drop_unresolved && t.resolved == Some(false) {
            split.dropped_unresolved += 1;
            continue;
        }
        let examples = trajectory_examples(t, &opts.prompt);
        if opts.holdout.is_held_out(&t.instance_id) {
            split.valid.extend(examples);
        } else {
            split.train.extend(examples);
        }
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use srl_core::{Role, Step, ToolCall};

    fn traj(id: &str, resolved: Option<bool>) -> Trajectory {
        Trajectory {
            instance_id: id.into(),
            task: "Fix the bug.".into(),
            steps: vec![
                Step { thought: "look".into(), action: ToolCall::bash("ls"), observation: "a.py".into() },
                Step { thought: "read".into(), action: ToolCall::bash("cat a.py"), observation: "x = 1".into() },
                Step { thought: "done".into(), action: ToolCall::submit(), observation: String::new() },
            ],
            patch: None,
            resolved,
            source_format: "canonical".into(),
            source: "t.jsonl:1".into(),
            model: None,
            exit_status: None,
        }
    }

    #[test]
    fn one_example_per_action_with_growing_context() {
        let ex = trajectory_examples(&traj("a", None), &PromptConfig::default());
        assert_eq!(ex.len(), 3);
        assert_eq!(ex[0].messages.len(), 2, "the first action sees the task alone");
        assert_eq!(ex[2].messages.len(), 6);
        assert_eq!(ex[2].messages[5].role, Role::User);
        assert_eq!(ex[1].expert_action, ToolCall::bash("cat a.py").render());
        assert_eq!(ex[1].expert_thought, "read");
        assert!(!ex[1].expert_action.contains("read"));
        assert_eq!(ex[2].action_kind, ActionKind::Submit);
    }

    #[test]
    fn unresolved_are_dropped_and_holdout_is_by_trajectory() {
        let ts = vec![traj("a", Some(true)), traj("b", Some(false)), traj("c", None)];
        let opts = StepOptions {
            drop_unresolved: true,
            holdout: Holdout { ids: ["c".to_string()].into(), ..Default::default() },
            ..Default::default()
        };
        let s = build_examples(&ts, &opts);
        assert_eq!(s.dropped_unresolved, 1);
        assert_eq!(s.train.len(), 3);
        assert!(s.train.iter().all(|e| e.instance_id == "a"));
        assert_eq!(s.valid.len(), 3);
    }

    #[test]
    fn seeded_fraction_is_stable_and_close() {
        let h = Holdout { fraction: 0.2, seed: 7, ..Default::default() };
        let held = (0..5000).filter(|i| h.is_held_out(&format!("repo__x-{i}"))).count();
        assert!((800..1200).contains(&held), "{held}");
        assert_eq!(h.is_held_out("repo__x-1"), h.is_held_out("repo__x-1"));
        let other = Holdout { seed: 8, ..h.clone() };
        assert!((0..100).any(|i| h.is_held_out(&format!("r-{i}")) != other.is_held_out(&format!("r-{i}"))));
    }
}
