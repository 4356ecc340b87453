//! A policy that replays the actions of recorded trajectories (the replay harness, and tests).

use std::collections::HashMap;
use std::path::Path;

use futures_util::future::BoxFuture;
use srl_core::{ActionKind, Step, ToolCall, Trajectory};

use crate::error::AgentError;
use crate::policy::{AgentPolicy, PolicyError, PolicyReply, PolicyRequest};

/// Replays trajectories: call `turn` of an episode on instance `I` gets step `turn` of `I`'s trajectory as
/// `<think>{thought}</think>\n{canonical call}`, and every call after the last step gets `submit` (so a
/// trajectory that never submitted still ends). Token counts are unknown (`None`).
#[derive(Clone, Debug)]
pub struct ScriptedPolicy {
    name: String,
    by_instance: HashMap<String, Vec<Step>>,
}

impl ScriptedPolicy {
    /// From trajectories (one per instance; a later one of the same instance replaces an earlier one).
    pub fn new(name: impl Into<String>, trajectories: impl IntoIterator<Item = Trajectory>) -> Self {
        let by_instance = trajectories.into_iter().map(|t| (t.instance_id, t.steps)).collect();
        ScriptedPolicy { name: name.into(), by_instance }
    }

    /// From a file or folder of trajectories in any format srl-data reads.
    pub fn from_path(path: &Path) -> Result<Self, AgentError> {
        let ts = srl_data::import::read_path(path, srl_data::Format::Auto)
            .map_err(|e| AgentError::Spec(format!("scripted policy: {e}")))?;
        if ts.is_empty() {
            return Err(AgentError::Spec(format!("scripted policy: no trajectory in {}", path.display())));
        }
        Ok(Self::new(format!("scripted:{}", path.display()), ts))
    }

    /// The instances it has a script for.
    pub fn instance_ids(&self) -> impl Iterator<Item = &str> {
        self.by_instance.keys().map(String::as_str)
    }

    /// The completion replaying `step`.
    pub fn render_step(step: &Step) -> String {
        render_completion(&step.thought, &step.action)
    }
}

/// `<think>\n{thought}\n</think>\n{call}`: the completion format the policy is trained to produce.
/// A `</think>` inside the thought is broken up so that the text parses back to the same thought and call.
pub fn render_completion(thought: &str, call: &ToolCall) -> String {
    let thought = thought.trim().replace("</think>", "</ think>");
    format!("<think>\n{thought}\n</think>\n{}", call.render())
}

impl AgentPolicy for ScriptedPolicy {
    fn model_name(&self) -> String {
        self.name.clone()
    }

    fn complete<'a>(&'a self, request: PolicyRequest<'a>) -> BoxFuture<'a, Result<PolicyReply, PolicyError>> {
        let reply = match self.by_instance.get(request.instance_id) {
            None => Err(PolicyError::Script(format!("no trajectory for instance {}", request.instance_id))),
            Some(steps) => {
                let text = match steps.get(request.turn) {
                    Some(step) => Self::render_step(step),
                    None => {
                        let done = steps.last().is_some_and(|s| s.action.kind() == ActionKind::Submit);
                        let why = if done { "Submitting again." } else { "The script is over: submitting." };
                        render_completion(why, &ToolCall::submit())
                    }
                };
                Ok(PolicyReply { text, usage: Default::default() })
            }
        };
        Box::pin(async move { reply })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_parse_back_to_the_step() {
        let step = Step {
            thought: "  look </think> here ".into(),
            action: ToolCall::bash("ls -la"),
            observation: String::new(),
        };
        let text = ScriptedPolicy::render_step(&step);
        let (thought, call) = srl_core::parse_completion(&text).unwrap();
        assert_eq!(thought, "look </ think> here");
        assert_eq!(call, step.action);
    }
}
