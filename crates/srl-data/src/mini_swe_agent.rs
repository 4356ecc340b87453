//! mini-swe-agent `.traj.json` (`trajectory_format` "mini-swe-agent-1.x"): one tool, bash. Assistant turns carry
//! the command in `tool_calls` (or, in the older text mode, a fenced ```bash block); replies are
//! `<returncode>N</returncode>\n<output>\n...\n</output>`; the run ends with a sentinel command that prints the
//! patch, mapped to `submit`. A SWE-bench `report.json` under `eval_logs/<instance_id>/` beside the file gives
//! the outcome.

use serde_json::Value;
use srl_core::{Step, ToolCall, Trajectory};

use crate::DataError;
use crate::import::{Ctx, array_field, between_tags, clean_observation, content_text, id_from_path};

const SUBMIT_SENTINELS: &[&str] = &["COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "MINI_SWE_AGENT_FINAL_OUTPUT"];

pub(crate) fn from_record(v: &Value, ctx: &Ctx) -> Result<Trajectory, DataError> {
    let messages = array_field(v, "messages", ctx)?;
    let instance_id =
        v.get("instance_id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| id_from_path(ctx.path));
    let mut task = None;
    let mut steps = Vec::new();
    let mut pending: Option<Step> = None;
    for (i, m) in messages.iter().enumerate() {
        let content = content_text(&m["content"]);
        match m["role"].as_str() {
            Some("user") if task.is_none() => {
                let t = between_tags(&content, "pr_description").unwrap_or(content.trim());
                let t = t.strip_prefix("Consider the following PR description:").unwrap_or(t).trim();
                task = Some(srl_core::text::normalize_newlines(t).into_owned());
            }
            Some("assistant") => {
                steps.extend(pending.take());
                let Some(command) = command_of(m, &content) else {
                    tracing::warn!("{}: messages[{i}]: assistant turn without a command; skipped", ctx.location);
                    continue;
                };
                let action = if SUBMIT_SENTINELS.iter().any(|s| command.contains(s)) {
                    ToolCall::submit()
                } else {
                    ToolCall::bash(&command)
                };
                let thought = match m.get("tool_calls") {
                    Some(Value::Array(a)) if !a.is_empty() => content.trim().to_string(),
                    _ => content.find("```").map_or(content.as_str(), |i| &content[..i]).trim().to_string(),
                };
                pending = Some(Step { thought, action, observation: String::new() });
            }
            Some("tool") | Some("user") => {
                if let Some(mut step) = pending.take() {
                    step.observation = clean_observation(&output_of(&content));
                    steps.push(step);
                }
            }
            _ => {}
        }
    }
    steps.extend(pending);
    let info = v.get("info").cloned().unwrap_or(Value::Null);
    let patch = info
        .get("submission")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
        .or_else(|| messages.iter().rev().find(|m| m["role"] == "exit").map(|m| content_text(&m["content"])))
        .filter(|s| !s.trim().is_empty());
    Ok(Trajectory {
        instance_id: instance_id.clone(),
        task: task.ok_or_else(|| ctx.err("no user message with the task"))?,
        steps,
        patch,
        resolved: resolved_from_eval_logs(ctx, &instance_id),
        source_format: "mini-swe-agent".into(),
        source: String::new(),
        model: info.pointer("/config/model/model_name").and_then(Value::as_str).map(str::to_string),
        exit_status: info.get("exit_status").and_then(Value::as_str).map(str::to_string),
    })
}

fn command_of(m: &Value, content: &str) -> Option<String> {
    if let Some(tc) = m.get("tool_calls").and_then(Value::as_array).and_then(|a| a.first()) {
        let args = &tc["function"]["arguments"];
        let parsed: Value = match args {
            Value::String(s) => serde_json::from_str(s).ok()?,
            other => other.clone(),
        };
        return parsed.get("command").and_then(Value::as_str).map(str::to_string);
    }
    if let Some(cmd) = m.pointer("/extra/actions/0/command").and_then(Value::as_str) {
        return Some(cmd.to_string());
    }
    // Text mode: the last ```bash fenced block.
    let start = content.rfind("```bash")? + "```bash".len();
    let end = content[start..].find("```")? + start;
    Some(content[start..end].trim().to_string())
}

/// The `<output>` of a reply (with a `<warning>` kept in front), or the reply itself. A long output, which
/// mini-swe-agent shows as `<output_head>`, `<elided_chars>` and `<output_tail>`, is its head, a line saying how
/// much was elided, and its tail: what the agent saw, without the tags.
fn output_of(content: &str) -> String {
    let out = match between_tags_raw(content, "output_head") {
        Some(head) => {
            let elided = between_tags(content, "elided_chars").unwrap_or("some characters elided");
            let tail = between_tags_raw(content, "output_tail").unwrap_or("");
            format!("{head}\n[{elided}]\n{tail}")
        }
        None => between_tags_raw(content, "output").unwrap_or(content).to_string(),
    };
    match between_tags(content, "warning") {
        Some(w) => format!("{w}\n{out}"),
        None => out,
    }
}

/// The text between `<tag>` and the last `</tag>`, less one newline after the opening tag and one before the
/// closing one (an empty output is `<output>\n</output>`).
fn between_tags_raw<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text.rfind(&close)?;
    if end < start {
        return None;
    }
    let inner = &text[start..end];
    let inner = inner.strip_prefix('\n').unwrap_or(inner);
    Some(inner.strip_suffix('\n').unwrap_or(inner))
}

fn resolved_from_eval_logs(ctx: &Ctx, instance_id: &str) -> Option<bool> {
    let dir = ctx.path.parent()?;
    let report = dir.join("eval_logs").join(instance_id).join("report.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(report).ok()?).ok()?;
    v.get(instance_id)?.get("resolved")?.as_bool()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_keep_the_output() {
        assert_eq!(output_of("<returncode>0</returncode>\n<output>\na\nb\n</output>"), "a\nb");
        assert_eq!(output_of("plain"), "plain");
        // An empty output is empty (it was a lone newline, which scored 0 against a replayed empty output).
        assert_eq!(output_of("<returncode>0</returncode>\n<output>\n</output>"), "");
        assert_eq!(output_of("<returncode>0</returncode>\n<output>\nx</output>"), "x");
    }

    #[test]
    fn a_long_output_is_its_head_the_elision_and_its_tail() {
        let reply = "<returncode>0</returncode>\n<warning>\nThe output of your last command was too long.\n</warning>\
<output_head>\nimport os\nimport sys\n</output_head>\n<elided_chars>\n4613 characters elided\n</elided_chars>\n\
<output_tail>\n        return f\n\n</output_tail>";
        assert_eq!(
            output_of(reply),
            "The output of your last command was too long.\nimport os\nimport sys\n[4613 characters elided]\n        return f\n"
        );
    }
}
