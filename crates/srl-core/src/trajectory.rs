//! The canonical trajectory: what every importer produces and every consumer reads.

use serde::{Deserialize, Serialize};

use crate::call::ToolCall;

/// One expert step: the reasoning before the action, the action, and what the environment answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The agent's reasoning before the call (never part of a training target).
    #[serde(default)]
    pub thought: String,
    /// The call, serialised as its canonical rendering.
    pub action: ToolCall,
    /// The observation without the `OBSERVATION:` prefix, line endings normalised to `\n`; empty when the
    /// command printed nothing.
    #[serde(default)]
    pub observation: String,
}

/// An agent run in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trajectory {
    pub instance_id: String,
    /// The task statement (the issue / PR description), without any agent's instructions around it.
    pub task: String,
    pub steps: Vec<Step>,
    /// The final patch, when the format records one.
    #[serde(default)]
    pub patch: Option<String>,
    /// Whether the run resolved its task, when known.
    #[serde(default)]
    pub resolved: Option<bool>,
    /// The format it was imported from (`swe-smith-xml`, `swe-agent`, `mini-swe-agent`, `openhands`, `canonical`).
    #[serde(default)]
    pub source_format: String,
    /// The file (and line, for JSONL) it came from.
    #[serde(default)]
    pub source: String,
    /// The model that produced it, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How the run ended (`submitted`, `exit_cost`, ...), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<String>,
}
