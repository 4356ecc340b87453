//! SWE-smith / SWE-agent XML function-calling chat: `{"instance_id", "messages": [system, user(task),
//! (assistant(reasoning + one call), user(observation))...], "patch"?, "outcome"?: {"resolved"}}`.
//! SWE-smith's published trajectories (a Hugging Face dataset) have the same columns plus `resolved`, `model` and
//! `traj_id`; a row without `instance_id` takes its `traj_id`, else the file's name.

use serde_json::{Value, json};
use srl_core::prompt::{SYSTEM_PROMPT, render_observation, render_task};
use srl_core::{Step, ToolCall, Trajectory};

use crate::DataError;
use crate::import::{Ctx, array_field, between_tags, clean_observation, content_text};

/// Reads one record.
pub(crate) fn from_record(v: &Value, ctx: &Ctx) -> Result<Trajectory, DataError> {
    let messages = array_field(v, "messages", ctx)?;
    let instance_id = v
        .get("instance_id")
        .and_then(Value::as_str)
        .or_else(|| v.get("traj_id").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| crate::import::id_from_path(ctx.path));
    let mut task = None;
    let mut steps: Vec<Step> = Vec::new();
    let mut pending: Option<Step> = None;
    for (i, m) in messages.iter().enumerate() {
        let role =
            m.get("role").and_then(Value::as_str).ok_or_else(|| ctx.err(format!("messages[{i}] has no role")))?;
        let content = content_text(m.get("content").unwrap_or(&Value::Null));
        match role {
            "system" => {}
            "user" | "tool" if task.is_none() => {
                task = Some(between_tags(&content, "pr_description").unwrap_or(content.trim()).to_string());
            }
            "assistant" => {
                if let Some(step) = pending.take() {
                    steps.push(step);
                }
                match ToolCall::split_thought(&content) {
                    Ok((thought, action)) => pending = Some(Step { thought, action, observation: String::new() }),
                    Err(e) => {
                        tracing::warn!(
                            "{}: messages[{i}]: assistant turn without one valid call ({e}); skipped",
                            ctx.location
                        )
                    }
                }
            }
            "user" | "tool" => {
                if let Some(mut step) = pending.take() {
                    step.observation = clean_observation(&content);
                    steps.push(step);
                }
            }
            _ => {}
        }
    }
    steps.extend(pending);
    let task = task.ok_or_else(|| ctx.err("no user message with the task"))?;
    let resolved = v
        .get("outcome")
        .and_then(|o| o.get("resolved"))
        .and_then(Value::as_bool)
        .or_else(|| v.get("resolved").and_then(Value::as_bool));
    Ok(Trajectory {
        instance_id,
        task,
        steps,
        patch: v.get("patch").and_then(Value::as_str).map(str::to_string),
        resolved,
        source_format: "swe-smith".into(),
        source: String::new(),
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        exit_status: None,
    })
}

/// The chat messages of a trajectory in SWE-smith's XML format (system, task, then each step's assistant turn
/// and observation), with srl-swe's system prompt and task template.
pub fn to_messages(t: &Trajectory) -> Vec<srl_core::Message> {
    let mut out = vec![srl_core::Message::system(SYSTEM_PROMPT), srl_core::Message::user(render_task(&t.task))];
    for s in &t.steps {
        let call = s.action.render();
        let assistant = if s.thought.trim().is_empty() { call } else { format!("{}\n\n{call}", s.thought.trim()) };
        out.push(srl_core::Message::assistant(assistant));
        out.push(srl_core::Message::user(render_observation(&s.observation, 0)));
    }
    out
}

/// A trajectory as a SWE-smith XML chat record; [`from_record`] reads it back to the same trajectory.
pub fn to_record(t: &Trajectory) -> Value {
    let mut rec = json!({
        "instance_id": t.instance_id,
        "messages": to_messages(t),
        "outcome": {"resolved": t.resolved},
    });
    if let Some(p) = &t.patch {
        rec["patch"] = json!(p);
    }
    if let Some(m) = &t.model {
        rec["model"] = json!(m);
    }
    rec
}
