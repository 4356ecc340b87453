//! SWE-agent `.traj`: 0.x windowed-ACI text actions (`trajectory[i].action`) and 1.x function calling
//! (`history[]` assistant entries with `tool_calls`).
//!
//! Mapping onto canonical calls where the meaning is the same: shell commands -> `bash`; `create F` ->
//! `str_replace_editor create` (an empty file); `open F [N]` -> `str_replace_editor view` (with the 100-line
//! window SWE-agent shows around N); 1.x `edit {search, replace}` on the open file -> `str_replace`;
//! `submit` -> `submit`. Windowed commands with no editor twin (`goto`, `scroll_*`, `find_file`, `search_*`,
//! 0.x `edit A:B`, `insert`) are kept as their own tools with named parameters (the open file as `path`).

use serde_json::Value;
use srl_core::{Step, ToolCall, Trajectory};

use crate::DataError;
use crate::import::{Ctx, array_field, clean_observation, content_text, id_from_path};

pub(crate) fn from_record(v: &Value, ctx: &Ctx) -> Result<Trajectory, DataError> {
    let history = array_field(v, "history", ctx)?;
    let trajectory = array_field(v, "trajectory", ctx)?;
    let task = find_task(history).ok_or_else(|| ctx.err("no user message with `ISSUE:` in `history`"))?;
    let function_calling =
        history.iter().any(|m| m.get("tool_calls").and_then(Value::as_array).is_some_and(|a| !a.is_empty()));
    let steps = if function_calling { steps_1x(history, ctx)? } else { steps_0x(trajectory, ctx)? };
    let info = v.get("info").cloned().unwrap_or(Value::Null);
    let patch =
        info.get("submission").and_then(Value::as_str).map(|s| s.trim_start().to_string()).filter(|s| !s.is_empty());
    Ok(Trajectory {
        instance_id: id_from_path(ctx.path),
        task,
        steps,
        patch,
        resolved: None,
        source_format: "swe-agent".into(),
        source: String::new(),
        model: None,
        exit_status: info.get("exit_status").and_then(Value::as_str).map(str::to_string),
    })
}

fn find_task(history: &[Value]) -> Option<String> {
    history
        .iter()
        .filter(|m| m["role"] == "user" && m.get("is_demo").and_then(Value::as_bool) != Some(true))
        .map(|m| content_text(&m["content"]))
        .find(|c| c.contains("ISSUE:\n") && !c.contains("--- DEMONSTRATION ---"))
        .map(|c| {
            let start = c.find("ISSUE:\n").map_or(0, |i| i + "ISSUE:\n".len());
            let end = c[start..].find("\n\nINSTRUCTIONS:").map_or(c.len(), |i| start + i);
            srl_core::text::normalize_newlines(c[start..end].trim()).into_owned()
        })
}

/// The footer 1.x appends to tool replies: `(Open file: ...)\n(Current directory: ...)\nbash-$`.
fn strip_footer(obs: &str) -> &str {
    let t = obs.trim_end();
    let Some(t) = t.strip_suffix("bash-$") else { return obs };
    match t.rfind("(Open file:") {
        Some(i) if t[i..].contains("(Current directory:") => t[..i].trim_end_matches('\n'),
        _ => obs,
    }
}

fn state_of(step: &Value) -> (Option<String>, Option<String>) {
    let state = match step.get("state") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let get =
        |k: &str| state.get(k).and_then(Value::as_str).filter(|s| !s.is_empty() && *s != "n/a").map(str::to_string);
    (get("open_file"), get("working_dir"))
}

fn absolute(path: &str, cwd: Option<&str>) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    match cwd {
        Some(d) => format!("{}/{}", d.trim_end_matches('/'), path.trim_start_matches("./")),
        None => path.to_string(),
    }
}

fn view_window(path: &str, line: Option<i64>) -> Result<ToolCall, srl_core::CallError> {
    match line {
        Some(n) => {
            let start = (n - 50).max(1);
            let range = format!("[{start}, {}]", start + 99);
            ToolCall::editor("view", path, &[("view_range", &range)])
        }
        None => ToolCall::editor("view", path, &[]),
    }
}

fn steps_0x(trajectory: &[Value], ctx: &Ctx) -> Result<Vec<Step>, DataError> {
    let mut steps = Vec::new();
    let mut open_file: Option<String> = None;
    for (i, s) in trajectory.iter().enumerate() {
        let action = s
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| ctx.err(format!("trajectory[{i}].action is missing")))?;
        let (state_open, cwd) = state_of(s);
        let call = map_text_action(action, open_file.as_deref().or(state_open.as_deref()), cwd.as_deref())
            .map_err(|e| ctx.err(format!("trajectory[{i}].action: {e}")))?;
        if let Some(p) = call.param("path").filter(|_| matches!(call.param("command"), Some("view" | "create"))) {
            open_file = Some(p.to_string());
        }
        if state_open.is_some() {
            open_file = state_open;
        }
        let thought = s.get("thought").and_then(Value::as_str).unwrap_or("").trim().to_string();
        let observation = clean_observation(s.get("observation").and_then(Value::as_str).unwrap_or(""));
        steps.push(Step { thought, action: call, observation });
    }
    Ok(steps)
}

/// One 0.x action line (plus an `edit` body) as a call.
fn map_text_action(action: &str, open_file: Option<&str>, cwd: Option<&str>) -> Result<ToolCall, srl_core::CallError> {
    let trimmed = action.trim();
    let (first_line, body) = trimmed.split_once('\n').unwrap_or((trimmed, ""));
    let words = shell_words(first_line);
    let cmd = words.first().map(String::as_str).unwrap_or("");
    let arg = |i: usize| words.get(i).map(String::as_str);
    let path_of = |p: &str| absolute(p, cwd);
    let open = open_file.unwrap_or("").to_string();
    match cmd {
        "submit" if words.len() == 1 => Ok(ToolCall::submit()),
        "open" if words.len() >= 2 => view_window(&path_of(&words[1]), arg(2).and_then(|n| n.parse().ok())),
        "create" if words.len() == 2 => ToolCall::editor("create", &path_of(&words[1]), &[("file_text", "")]),
        "goto" => ToolCall::new("goto", [("path", open.as_str()), ("line_number", arg(1).unwrap_or(""))]),
        "scroll_down" | "scroll_up" => ToolCall::new(cmd, [("path", open.as_str())]),
        "find_file" => ToolCall::new(cmd, [("file_name", arg(1).unwrap_or("")), ("dir", arg(2).unwrap_or(""))]),
        "search_dir" => ToolCall::new(cmd, [("search_term", arg(1).unwrap_or("")), ("dir", arg(2).unwrap_or(""))]),
        "search_file" => {
            let file = arg(2).map(path_of).unwrap_or(open);
            ToolCall::new(cmd, [("search_term", arg(1).unwrap_or("")), ("file", file.as_str())])
        }
        "edit" if words.len() == 2 && words[1].contains(':') => {
            let (a, b) = words[1].split_once(':').unwrap_or(("", ""));
            let replacement = body.strip_suffix("end_of_edit").unwrap_or(body);
            ToolCall::new(
                "edit",
                [("path", open.as_str()), ("start_line", a), ("end_line", b), ("replacement", replacement)],
            )
        }
        _ => Ok(ToolCall::bash(trimmed)),
    }
}

fn steps_1x(history: &[Value], ctx: &Ctx) -> Result<Vec<Step>, DataError> {
    let mut steps: Vec<Step> = Vec::new();
    let mut pending: Option<Step> = None;
    let mut open_file: Option<String> = None;
    let mut cwd: Option<String> = Some("/testbed".into());
    for (i, m) in history.iter().enumerate() {
        match m["role"].as_str() {
            Some("assistant") => {
                let Some(tc) = m.get("tool_calls").and_then(Value::as_array).and_then(|a| a.first()) else { continue };
                if let Some(step) = pending.take() {
                    steps.push(step);
                }
                let name = tc["function"]["name"].as_str().unwrap_or("");
                let args: Value = match &tc["function"]["arguments"] {
                    Value::String(s) => serde_json::from_str(s)
                        .map_err(|e| ctx.err(format!("history[{i}]: tool call arguments are not JSON: {e}")))?,
                    other => other.clone(),
                };
                let call = map_function_call(name, &args, open_file.as_deref(), cwd.as_deref())
                    .map_err(|e| ctx.err(format!("history[{i}]: {e}")))?;
                if let (Some("view" | "create"), Some(p)) = (call.param("command"), call.param("path")) {
                    open_file = Some(p.to_string());
                }
                let thought = m
                    .get("thought")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| content_text(&m["content"]));
                pending = Some(Step { thought: thought.trim().to_string(), action: call, observation: String::new() });
            }
            Some("tool") | Some("user") if pending.is_some() => {
                let raw = content_text(&m["content"]);
                if let Some(dir) = footer_field(&raw, "(Current directory: ") {
                    cwd = Some(dir);
                }
                if let Some(f) = footer_field(&raw, "(Open file: ").filter(|f| f != "n/a") {
                    open_file = Some(f);
                }
                let mut step = pending.take().expect("checked");
                step.observation = clean_observation(strip_footer(&raw));
                steps.push(step);
            }
            _ => {}
        }
    }
    steps.extend(pending);
    Ok(steps)
}

fn footer_field(raw: &str, prefix: &str) -> Option<String> {
    let i = raw.rfind(prefix)? + prefix.len();
    let end = raw[i..].find(')')? + i;
    Some(raw[i..end].to_string())
}

fn map_function_call(
    name: &str,
    args: &Value,
    open_file: Option<&str>,
    cwd: Option<&str>,
) -> Result<ToolCall, srl_core::CallError> {
    let s = |k: &str| match args.get(k) {
        Some(Value::String(x)) => Some(x.clone()),
        Some(Value::Null) | None => None,
        Some(Value::Array(items)) => {
            Some(format!("[{}]", items.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")))
        }
        Some(other) => Some(other.to_string()),
    };
    let open = open_file.unwrap_or("").to_string();
    match name {
        "bash" | "execute_bash" => Ok(ToolCall::bash(&s("command").unwrap_or_default())),
        "submit" | "finish" => Ok(ToolCall::submit()),
        "create" => {
            ToolCall::editor("create", &absolute(&s("filename").unwrap_or_default(), cwd), &[("file_text", "")])
        }
        "open" => {
            view_window(&absolute(&s("path").unwrap_or_default(), cwd), args.get("line_number").and_then(Value::as_i64))
        }
        "edit" if args.get("search").is_some() => ToolCall::editor(
            "str_replace",
            &open,
            &[("old_str", &s("search").unwrap_or_default()), ("new_str", &s("replace").unwrap_or_default())],
        ),
        _ => {
            // Same tool in both worlds (str_replace_editor) or a windowed tool kept as is: arguments in order.
            let mut params: Vec<(String, String)> = Vec::new();
            if let Some(obj) = args.as_object() {
                for (k, _) in obj {
                    if let Some(val) = s(k) {
                        params.push((k.clone(), val));
                    }
                }
            }
            if matches!(name, "insert" | "goto" | "scroll_up" | "scroll_down")
                && !params.iter().any(|(k, _)| k == "path")
            {
                params.insert(0, ("path".into(), open));
            }
            ToolCall::new(name, params)
        }
    }
}

/// Splits a command line like a POSIX shell would for simple words, single and double quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    cur.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                cur.push(e);
                            }
                        }
                        _ => cur.push(d),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(e) = chars.next() {
                    cur.push(e);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use srl_core::ActionKind;

    #[test]
    fn text_actions_map_onto_canonical_kinds() {
        let cwd = Some("/repo");
        assert_eq!(map_text_action("submit\n", None, cwd).unwrap().kind(), ActionKind::Submit);
        let open = map_text_action("open \"src/a b.py\" 120", None, cwd).unwrap();
        assert_eq!(open.kind(), ActionKind::View);
        assert_eq!(open.param("path"), Some("/repo/src/a b.py"));
        assert_eq!(open.param("view_range"), Some("[70, 169]"));
        let create = map_text_action("create reproduce.py\n", None, cwd).unwrap();
        assert_eq!(create.kind(), ActionKind::Create);
        let edit = map_text_action("edit 3:4\n    x = 1\nend_of_edit", Some("/repo/a.py"), cwd).unwrap();
        assert_eq!(edit.name(), "edit");
        assert_eq!(edit.param("path"), Some("/repo/a.py"));
        assert_eq!(edit.param("replacement"), Some("x = 1"));
        let bash = map_text_action("python reproduce.py\n", None, cwd).unwrap();
        assert_eq!(bash, ToolCall::bash("python reproduce.py"));
        assert_eq!(
            map_text_action("search_dir \"foo bar\" src", None, cwd).unwrap().param("search_term"),
            Some("foo bar")
        );
    }

    #[test]
    fn footers_are_stripped() {
        let raw = "345\n(Open file: /testbed/a.py)\n(Current directory: /testbed)\nbash-$";
        assert_eq!(strip_footer(raw), "345");
        assert_eq!(footer_field(raw, "(Open file: ").as_deref(), Some("/testbed/a.py"));
        assert_eq!(strip_footer("no footer"), "no footer");
    }

    #[test]
    fn shell_words_split() {
        assert_eq!(shell_words(r#"open "a b" 'c d' e\ f"#), ["open", "a b", "c d", "e f"]);
    }
}
