//! SWE-agent's tools with their wording: `bash`, `str_replace_editor` (view, create, str_replace, insert,
//! undo_edit) and `submit`. The editor runs on the host over file reads and writes into the container, so it does
//! not depend on the image's Python.

use std::time::Duration;

use srl_core::{ActionKind, ToolCall};

use crate::container::{Container, FileKind, ToolState};
use crate::error::Result;
use crate::exec::ExecOptions;

/// Lines of context around an edit in the snippet the editor shows (SWE-agent's `SNIPPET_LINES`).
pub const SNIPPET_LINES: usize = 4;
/// Longest file view before clipping (SWE-agent's `MAX_RESPONSE_LEN`).
pub const MAX_RESPONSE_LEN: usize = 16000;
/// What a clipped view ends with.
pub const TRUNCATED_MESSAGE: &str = "<response clipped><NOTE>To save on context only part of this file has been shown to you. You should retry this tool after you have searched inside the file with `grep -n` in order to find the line numbers of what you are looking for.</NOTE>";

/// The result of one tool call: the raw observation text (no `OBSERVATION:` prefix, `\n` line endings; the prompt
/// layer adds the prefix) and what happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    pub text: String,
    /// Exit status of a bash command (`None` for editor calls, and for a command killed on timeout).
    pub exit_code: Option<i64>,
    /// The bash command hit its timeout.
    pub timed_out: bool,
    /// The tool refused the call (a `ToolError` in SWE-agent: bad path, no match, ...).
    pub error: bool,
    /// Set by `submit`: the patch of all changes against the base commit.
    pub patch: Option<String>,
}

impl Observation {
    fn ok(text: impl Into<String>) -> Self {
        Observation { text: text.into(), ..Default::default() }
    }
    fn err(text: impl Into<String>) -> Self {
        Observation { text: text.into(), error: true, ..Default::default() }
    }
}

/// Python's `str.expandtabs()` (tab size 8; columns restart after `\n` and `\r`).
pub fn expandtabs(s: &str) -> String {
    if !s.contains('\t') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut col = 0usize;
    for c in s.chars() {
        match c {
            '\t' => {
                let n = 8 - col % 8;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            }
            '\n' | '\r' => {
                out.push(c);
                col = 0;
            }
            _ => {
                out.push(c);
                col += 1;
            }
        }
    }
    out
}

/// SWE-agent's `maybe_truncate`.
fn maybe_truncate(content: &str) -> String {
    if content.chars().count() <= MAX_RESPONSE_LEN {
        return content.to_string();
    }
    let cut: String = content.chars().take(MAX_RESPONSE_LEN).collect();
    cut + TRUNCATED_MESSAGE
}

/// SWE-agent's `_make_output`: `cat -n` numbering (`{n:6}\t{line}`) after the header.
pub fn make_output(file_content: &str, descriptor: &str, init_line: usize) -> String {
    let content = expandtabs(&maybe_truncate(file_content));
    let mut out = format!("Here's the result of running `cat -n` on {descriptor}:\n");
    for (i, line) in content.split('\n').enumerate() {
        out.push_str(&format!("{:6}\t{}\n", i + init_line, line));
    }
    out
}

/// Python's `repr` of a list of ints, e.g. `[1, 20]`.
fn py_list(v: &[i64]) -> String {
    format!("[{}]", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "))
}

/// The bash-timeout observation of SWE-agent.
pub fn timeout_message(command: &str, timeout: Duration) -> String {
    format!(
        "The command '{command}' was cancelled because it took more than {} seconds. Please try a different command \
         that completes more quickly. Note: A common source of this error is if the command is interactive or \
         requires user input (it is impossible to receive user input in the current environment, so the command \
         will never complete).",
        timeout.as_secs()
    )
}

/// Lexically normalise an absolute path (`.` and `..`).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn under_roots(path: &str, roots: &[String]) -> bool {
    roots.iter().any(|r| {
        let r = r.trim_end_matches('/');
        r.is_empty() || path == r || path.starts_with(&format!("{r}/"))
    })
}

impl Container {
    /// Run one tool call and return its observation (SWE-agent's wording). Unknown tools and bad parameters are
    /// observations too; `Err` only when Docker fails.
    pub async fn run_tool(&self, call: &ToolCall) -> Result<Observation> {
        match call.kind() {
            ActionKind::Bash => {
                let command = call.param("command").unwrap_or("");
                let opts = self.tools.lock().map(|t| t.exec.clone()).unwrap_or_default();
                self.bash(command, &opts).await
            }
            ActionKind::Submit => {
                let (base, path) =
                    self.tools.lock().map(|t| (t.base_commit.clone(), t.patch_path.clone())).unwrap_or_default();
                let patch = self.submit_patch(base.as_deref()).await?;
                if let Some(p) = path {
                    self.write_file_with(&p, patch.as_bytes(), 0o644, 0, 0).await?;
                }
                Ok(Observation { text: patch.clone(), patch: Some(patch), ..Default::default() })
            }
            ActionKind::Other => Ok(Observation::err(format!(
                "Unknown tool `{}`: the available tools are bash, str_replace_editor and submit.",
                call.name()
            ))),
            _ => self.editor(call).await,
        }
    }

    /// The `bash` tool: [`Container::exec`] as an observation (`\r\n` made `\n`; the timeout message on timeout).
    pub async fn bash(&self, command: &str, opts: &ExecOptions) -> Result<Observation> {
        let out = self.exec(command, opts).await?;
        let mut text = srl_core::text::normalize_newlines(&out.output).into_owned();
        if out.timed_out {
            text = timeout_message(command, opts.timeout.unwrap_or_default());
        }
        Ok(Observation { text, exit_code: out.exit_code, timed_out: out.timed_out, ..Default::default() })
    }

    /// The `str_replace_editor` tool.
    pub async fn editor(&self, call: &ToolCall) -> Result<Observation> {
        let command = call.param("command").unwrap_or("");
        let Some(path) = call.param("path") else {
            return Ok(Observation::err(format!("Parameter `path` is required for command: {command}")));
        };
        if !matches!(command, "view" | "create" | "str_replace" | "insert" | "undo_edit") {
            return Ok(Observation::err(format!(
                "Unrecognized command {command}. The allowed commands for the str_replace_editor tool are: view, \
                 create, str_replace, insert, undo_edit"
            )));
        }
        if !path.starts_with('/') {
            return Ok(Observation::err(format!(
                "The path {path} is not an absolute path, it should start with `/`. Maybe you meant /{path}?"
            )));
        }
        let roots = self.tools.lock().map(|t| t.allowed_roots.clone()).unwrap_or_default();
        let st = self.stat(path).await?;
        if !under_roots(&normalize(path), &roots) || !under_roots(&st.real_path, &roots) {
            return Ok(Observation::err(format!(
                "The path {path} is outside the directories this tool may access ({}).",
                roots.join(", ")
            )));
        }
        let exists = st.kind != FileKind::Missing;
        if !exists && command != "create" {
            return Ok(Observation::err(format!("The path {path} does not exist. Please provide a valid path.")));
        }
        if exists && command == "create" {
            return Ok(Observation::err(format!(
                "File already exists at: {path}. Cannot overwrite files using command `create`."
            )));
        }
        if st.kind == FileKind::Dir && command != "view" {
            return Ok(Observation::err(format!(
                "The path {path} is a directory and only the `view` command can be used on directories"
            )));
        }
        match command {
            "view" => self.view(path, st.kind, call.param("view_range")).await,
            "create" => {
                let Some(text) = call.param("file_text") else {
                    return Ok(Observation::err("Parameter `file_text` is required for command: create"));
                };
                self.write_file(path, text.as_bytes()).await?;
                self.push_history(path, text.to_string());
                Ok(Observation::ok(format!("File created successfully at: {path}")))
            }
            "str_replace" => {
                let Some(old) = call.param("old_str") else {
                    return Ok(Observation::err("Parameter `old_str` is required for command: str_replace"));
                };
                self.str_replace(path, old, call.param("new_str")).await
            }
            "insert" => {
                let Some(line) = call.param("insert_line") else {
                    return Ok(Observation::err("Parameter `insert_line` is required for command: insert"));
                };
                let Some(new_str) = call.param("new_str") else {
                    return Ok(Observation::err("Parameter `new_str` is required for command: insert"));
                };
                let Ok(line) = line.trim().parse::<i64>() else {
                    return Ok(Observation::err(format!(
                        "Invalid `insert_line` parameter: {line}. It should be an integer."
                    )));
                };
                self.insert(path, line, new_str).await
            }
            _ => self.undo_edit(path).await,
        }
    }

    fn push_history(&self, path: &str, content: String) {
        if let Ok(mut t) = self.tools.lock() {
            t.history.entry(path.to_string()).or_default().push(content);
        }
    }

    async fn read_text(&self, path: &str) -> Result<String> {
        let bytes = self.read_file(path).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn view(&self, path: &str, kind: FileKind, view_range: Option<&str>) -> Result<Observation> {
        if kind == FileKind::Dir {
            if view_range.is_some() {
                return Ok(Observation::err(
                    "The `view_range` parameter is not allowed when `path` points to a directory.",
                ));
            }
            let o = self.raw(&["bash", "-c", "find \"$1\" -maxdepth 2 -not -path '*/\\.*'", "find", path]).await?;
            let (stdout, stderr) = (o.stdout_str(), o.stderr_str());
            if !stderr.is_empty() {
                return Ok(Observation::err(stderr));
            }
            return Ok(Observation::ok(format!(
                "Here's the files and directories up to 2 levels deep in {path}, excluding hidden items:\n{stdout}\n"
            )));
        }
        let content = self.read_text(path).await?;
        let mut init_line = 1usize;
        let mut shown = content.clone();
        if let Some(vr) = view_range {
            let parsed: Option<Vec<i64>> = serde_json::from_str(vr).ok();
            let Some(range) = parsed.filter(|v| v.len() == 2) else {
                return Ok(Observation::err("Invalid `view_range`. It should be a list of two integers."));
            };
            let lines: Vec<&str> = content.split('\n').collect();
            let n = lines.len() as i64;
            let (start, end) = (range[0], range[1]);
            if start < 1 || start > n {
                return Ok(Observation::err(format!(
                    "Invalid `view_range` parameter: {}. Its first element `{start}` should be within the range of \
                     lines of the file: {}.",
                    py_list(&range),
                    py_list(&[1, n])
                )));
            }
            if end > n {
                return Ok(Observation::err(format!(
                    "Invalid `view_range` parameter: {}. Its second element `{end}` should be smaller than the \
                     number of lines in the file: `{n}`.",
                    py_list(&range)
                )));
            }
            if end != -1 && end < start {
                return Ok(Observation::err(format!(
                    "Invalid `view_range` parameter: {}. Its second element `{end}` should be larger or equal than \
                     its first `{start}`.",
                    py_list(&range)
                )));
            }
            let s = (start - 1) as usize;
            shown = if end == -1 { lines[s..].join("\n") } else { lines[s..end as usize].join("\n") };
            init_line = start as usize;
        }
        Ok(Observation::ok(make_output(&shown, path, init_line)))
    }

    async fn str_replace(&self, path: &str, old: &str, new: Option<&str>) -> Result<Observation> {
        let content = expandtabs(&self.read_text(path).await?);
        let old = expandtabs(old);
        let new = new.map(expandtabs).unwrap_or_default();
        if old == new {
            return Ok(Observation::err("No replacement was performed. `new_str` and `old_str` must be different."));
        }
        let occurrences = if old.is_empty() { content.chars().count() + 1 } else { content.matches(&old).count() };
        if occurrences == 0 {
            return Ok(Observation::err(format!(
                "No replacement was performed, old_str `{old}` did not appear verbatim in {path}."
            )));
        }
        if occurrences > 1 {
            let lines: Vec<i64> = content
                .split('\n')
                .enumerate()
                .filter(|(_, l)| l.contains(old.as_str()))
                .map(|(i, _)| i as i64 + 1)
                .collect();
            return Ok(Observation::err(format!(
                "No replacement was performed. Multiple occurrences of old_str `{old}` in lines {}. Please ensure \
                 it is unique",
                py_list(&lines)
            )));
        }
        let new_content = content.replacen(&old, &new, 1);
        self.write_file(path, new_content.as_bytes()).await?;
        self.push_history(path, content.clone());
        let before = &content[..content.find(&old).unwrap_or(0)];
        let replacement_line = before.matches('\n').count();
        let start = replacement_line.saturating_sub(SNIPPET_LINES);
        let end = replacement_line + SNIPPET_LINES + new.matches('\n').count();
        let lines: Vec<&str> = new_content.split('\n').collect();
        let snippet = lines[start.min(lines.len())..(end + 1).min(lines.len())].join("\n");
        let mut msg = format!("The file {path} has been edited. ");
        msg += &make_output(&snippet, &format!("a snippet of {path}"), start + 1);
        msg += "Review the changes and make sure they are as expected. Edit the file again if necessary.";
        Ok(Observation::ok(msg))
    }

    async fn insert(&self, path: &str, insert_line: i64, new_str: &str) -> Result<Observation> {
        let text = expandtabs(&self.read_text(path).await?);
        let new_str = expandtabs(new_str);
        let lines: Vec<&str> = text.split('\n').collect();
        let n = lines.len() as i64;
        if insert_line < 0 || insert_line > n {
            return Ok(Observation::err(format!(
                "Invalid `insert_line` parameter: {insert_line}. It should be within the range of lines of the \
                 file: {}",
                py_list(&[0, n])
            )));
        }
        let at = insert_line as usize;
        let new_lines: Vec<&str> = new_str.split('\n').collect();
        let mut all: Vec<&str> = lines[..at].to_vec();
        all.extend(&new_lines);
        all.extend(&lines[at..]);
        let mut snippet: Vec<&str> = lines[at.saturating_sub(SNIPPET_LINES)..at].to_vec();
        snippet.extend(&new_lines);
        snippet.extend(&lines[at..(at + SNIPPET_LINES).min(lines.len())]);
        self.write_file(path, all.join("\n").as_bytes()).await?;
        self.push_history(path, text.clone());
        let mut msg = format!("The file {path} has been edited. ");
        msg += &make_output(
            &snippet.join("\n"),
            "a snippet of the edited file",
            (insert_line - SNIPPET_LINES as i64 + 1).max(1) as usize,
        );
        msg += "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, \
                etc). Edit the file again if necessary.";
        Ok(Observation::ok(msg))
    }

    async fn undo_edit(&self, path: &str) -> Result<Observation> {
        let prev = self.tools.lock().ok().and_then(|mut t| t.history.get_mut(path).and_then(|h| h.pop()));
        let Some(old) = prev else {
            return Ok(Observation::err(format!("No edit history found for {path}.")));
        };
        self.write_file(path, old.as_bytes()).await?;
        Ok(Observation::ok(format!("Last edit to {path} undone successfully. {}", make_output(&old, path, 1))))
    }

    /// Change the tool settings of this session (allowed roots, bash options, base commit, patch path).
    pub fn configure_tools(&self, f: impl FnOnce(&mut ToolState)) {
        if let Ok(mut t) = self.tools.lock() {
            f(&mut t)
        }
    }

    /// The patch of all changes in /testbed against `base` (default `HEAD`): `git add -A` then
    /// `git diff --cached` (binary files are noted as such, not encoded). Empty when nothing changed.
    ///
    /// When the image build committed the environment set-up on top of the base commit (an install or
    /// `pre_install` that rewrote tracked files, as SWE-bench's `git commit -am`), the diff starts there
    /// (`refs/srl-swe/setup`): the patch holds the agent's changes only, as it would in SWE-bench's images.
    pub async fn submit_patch(&self, base: Option<&str>) -> Result<String> {
        let base = base.unwrap_or("HEAD");
        let o = self
            .raw(&[
                "bash",
                "-c",
                "cd /testbed && git add -A && git -c core.quotepath=false diff --cached \
                 \"$(git rev-parse -q --verify refs/srl-swe/setup || echo \"$1\")\"",
                "submit",
                base,
            ])
            .await?;
        if o.exit_code != Some(0) {
            return Err(crate::SandboxError::Other(format!("submit: git failed: {}", o.stderr_str())));
        }
        Ok(o.stdout_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expandtabs_like_python() {
        assert_eq!(expandtabs("a\tb"), "a       b");
        assert_eq!(expandtabs("abcdefgh\tx\n\ty"), "abcdefgh        x\n        y");
    }

    #[test]
    fn cat_n_output() {
        assert_eq!(
            make_output("a\nb", "/f", 9),
            "Here's the result of running `cat -n` on /f:\n     9\ta\n    10\tb\n"
        );
    }

    #[test]
    fn roots_and_normalisation() {
        let roots = vec!["/testbed".to_string()];
        assert!(under_roots(&normalize("/testbed/a/../b"), &roots));
        assert!(!under_roots(&normalize("/testbed/../etc/passwd"), &roots));
        assert!(!under_roots("/testbedx", &roots));
        assert!(under_roots("/testbed", &roots));
    }
}
