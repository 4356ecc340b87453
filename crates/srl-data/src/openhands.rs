//! OpenHands `output.jsonl` (CodeActAgent event stream): actions (`action` + `args`) linked to their
//! observations by `cause`. `run` -> `bash`; `read` -> `str_replace_editor view`; `edit` ->
//! `str_replace_editor` with its own command; `finish` -> `submit`; `run_ipython` is kept as `ipython`. `think`
//! actions are reasoning, not actions: their text joins the thought of the next action. A tool-call parse
//! failure (an `error` observation with no `cause`) answers no action and is dropped.

use std::collections::HashMap;

use serde_json::Value;
use srl_core::{Step, ToolCall, Trajectory};

use crate::DataError;
use crate::import::{Ctx, array_field, between_tags, clean_observation, content_text};

pub(crate) fn from_record(v: &Value, ctx: &Ctx) -> Result<Trajectory, DataError> {
    let history = array_field(v, "history", ctx)?;
    let instance_id = v
        .get("instance_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ctx.err("field `instance_id` is missing or not a string"))?
        .to_string();
    let task = v
        .pointer("/instance/problem_statement")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            let instr = v.get("instruction").and_then(Value::as_str)?;
            Some(between_tags(instr, "issue_description").unwrap_or(instr).to_string())
        })
        .map(|t| srl_core::text::normalize_newlines(t.trim()).into_owned())
        .ok_or_else(|| ctx.err("no task: neither `instance.problem_statement` nor `instruction`"))?;

    let id_of = |e: &Value| -> Option<String> {
        match e.get("id") {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    };
    let mut observations: HashMap<String, String> = HashMap::new();
    for e in history {
        if e.get("observation").is_some()
            && let Some(cause) = e.get("cause").filter(|c| !c.is_null())
        {
            let key = match cause {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            observations.insert(key, content_text(e.get("content").unwrap_or(&Value::Null)));
        }
    }
    let mut steps = Vec::new();
    let mut carried_thought = String::new();
    for (i, e) in history.iter().enumerate() {
        let Some(kind) = e.get("action").and_then(Value::as_str) else { continue };
        if e.get("source").and_then(Value::as_str) == Some("user") {
            continue;
        }
        let args = e.get("args").cloned().unwrap_or(Value::Null);
        let s = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
        let thought = s("thought").unwrap_or_default();
        let action = match kind {
            "run" => ToolCall::bash(&s("command").unwrap_or_default()),
            "read" => {
                let path = s("path").unwrap_or_default();
                let range = args
                    .get("view_range")
                    .and_then(Value::as_array)
                    .map(|r| format!("[{}]", r.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")));
                match range {
                    Some(r) => ToolCall::editor("view", &path, &[("view_range", &r)]),
                    None => ToolCall::editor("view", &path, &[]),
                }
                .map_err(|err| ctx.err(format!("history[{i}]: {err}")))?
            }
            "edit" => {
                let command = s("command").unwrap_or_else(|| "str_replace".into());
                let mut extra: Vec<(String, String)> = Vec::new();
                for key in ["file_text", "old_str", "new_str", "insert_line"] {
                    match args.get(key) {
                        Some(Value::String(x)) => extra.push((key.into(), x.clone())),
                        Some(Value::Number(n)) => extra.push((key.into(), n.to_string())),
                        _ => {}
                    }
                }
                let refs: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                ToolCall::editor(&command, &s("path").unwrap_or_default(), &refs)
                    .map_err(|err| ctx.err(format!("history[{i}]: {err}")))?
            }
            "run_ipython" => ToolCall::new("ipython", [("code", s("code").unwrap_or_default())])
                .map_err(|err| ctx.err(format!("history[{i}]: {err}")))?,
            "finish" => ToolCall::submit(),
            "think" => {
                let t = if thought.is_empty() { s("content").unwrap_or_default() } else { thought };
                carried_thought.push_str(t.trim());
                carried_thought.push('\n');
                continue;
            }
            _ => continue, // system, message, recall, ...: not actions
        };
        let thought =
            if kind == "finish" && thought.is_empty() { s("final_thought").unwrap_or_default() } else { thought };
        let full_thought = format!("{carried_thought}{thought}").trim().to_string();
        carried_thought.clear();
        let observation = id_of(e).and_then(|id| observations.get(&id).cloned()).unwrap_or_default();
        steps.push(Step { thought: full_thought, action, observation: clean_observation(&observation) });
    }
    let patch = v
        .pointer("/test_result/git_patch")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string);
    let resolved = v.pointer("/test_result/report/resolved").and_then(Value::as_bool);
    Ok(Trajectory {
        instance_id,
        task,
        steps,
        patch,
        resolved,
        source_format: "openhands".into(),
        source: String::new(),
        model: v.pointer("/metadata/llm_config/model").and_then(Value::as_str).map(str::to_string),
        exit_status: v.get("error").and_then(Value::as_str).map(|e| format!("error: {e}")),
    })
}
