//! The task text the policy sees, per mode: the issue alone, or the issue plus the files the gold patch touches
//! ("oracle file edit", SRL paper).

use serde::{Deserialize, Serialize};
use srl_core::{ActionKind, Instance, ToolCall};

use crate::env::Environment;

/// Where the repository sits in the container.
pub const REPO_ROOT: &str = "/testbed";

srl_core::choice_enum! {
    /// What the agent is asked to do (`--mode`).
    #[derive(Default)]
    pub enum Mode: "mode" {
        /// The issue; every tool (bash, str_replace_editor, submit).
        #[default]
        Standard = "standard",
        /// "Oracle file edit": the task also holds the current contents of the files the gold patch touches, and
        /// only `str_replace_editor` `str_replace` edits (and `submit`) are accepted; any other call is a format
        /// error.
        OracleEdit = "oracle-edit" | "oracle_edit" | "oracle",
    }
}

impl Mode {
    /// Why `call` is not allowed in this mode (`None`: allowed).
    pub fn refuse(self, call: &ToolCall) -> Option<String> {
        match self {
            Mode::Standard => None,
            Mode::OracleEdit => match call.kind() {
                ActionKind::StrReplace | ActionKind::Submit => None,
                kind => Some(format!(
                    "in oracle file edit mode only `str_replace_editor` with `command` `str_replace`, and `submit`, \
                     are allowed; got `{}`{}",
                    call.name(),
                    match kind {
                        ActionKind::Bash | ActionKind::Other => String::new(),
                        k => format!(" with `command` `{}`", k.as_str()),
                    }
                )),
            },
        }
    }
}

/// A file the gold patch touches, as it is at the base commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleFile {
    /// Path relative to the repository root.
    pub path: String,
    /// The contents at the base commit (lossy UTF-8).
    pub content: String,
}

/// Paths (relative to the repository root) of the files `patch` changes or deletes, in order, without
/// duplicates. Files the patch creates are left out: they have no contents to show.
pub fn gold_patch_files(patch: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut in_hunk = false;
    let mut old: Option<String> = None;
    for line in patch.lines() {
        if line.starts_with("diff --git ") {
            in_hunk = false;
            old = None;
        } else if line.starts_with("@@") {
            in_hunk = true;
        } else if !in_hunk && let Some(p) = line.strip_prefix("--- ") {
            old = diff_path(p, "a/");
        } else if !in_hunk
            && line.starts_with("+++ ")
            && let Some(p) = old.take()
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

/// The path of a `---`/`+++` header value (`a/x.py`, `"a/with space.py"`, `/dev/null` -> `None`).
fn diff_path(value: &str, prefix: &str) -> Option<String> {
    let v = value.split('\t').next().unwrap_or(value).trim_end();
    let v = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v);
    if v == "/dev/null" {
        return None;
    }
    Some(v.strip_prefix(prefix).unwrap_or(v).to_string())
}

/// Reads the files the gold patch of `instance` touches from the environment (at the start of an episode the
/// repository is at the base commit).
pub async fn oracle_files(env: &dyn Environment, instance: &Instance) -> Result<Vec<OracleFile>, String> {
    let mut files = Vec::new();
    for path in gold_patch_files(&instance.patch) {
        let bytes = env.read_file(&format!("{REPO_ROOT}/{path}")).await?;
        files.push(OracleFile { path, content: String::from_utf8_lossy(&bytes).into_owned() });
    }
    Ok(files)
}

/// The task statement of an episode: the issue text (`Standard`), or for `OracleEdit` the issue followed by the
/// current contents of `files` and the instruction to edit them with `str_replace` only. It is what
/// [`srl_core::render_prompt`] receives as `task` (and what the recorded trajectory stores as its task), so the
/// eval command can build the same text with this function.
pub fn task_text(instance: &Instance, mode: Mode, files: &[OracleFile]) -> String {
    let issue = instance.problem_statement.trim();
    match mode {
        Mode::Standard => issue.to_string(),
        Mode::OracleEdit => {
            let mut s = String::with_capacity(issue.len() + files.iter().map(|f| f.content.len() + 64).sum::<usize>());
            s.push_str(issue);
            s.push_str("\n\n<oracle_files>\nThe fix changes the files below. Their current contents:\n");
            for f in files {
                s.push_str(&format!("\n<file path=\"{REPO_ROOT}/{}\">\n", f.path));
                s.push_str(&f.content);
                if !f.content.ends_with('\n') {
                    s.push('\n');
                }
                s.push_str("</file>\n");
            }
            s.push_str(
                "</oracle_files>\n\nMake the change with `str_replace_editor` calls whose `command` is \
                 `str_replace` (one call per turn), then call `submit`. No other tool is available in this mode.",
            );
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "diff --git a/a.py b/a.py\nindex 1..2 100644\n--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n--- not a header\n-x\n+y\ndiff --git a/new.py b/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+z\ndiff --git a/gone.py b/gone.py\ndeleted file mode 100644\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-q\n";

    #[test]
    fn gold_files_are_the_changed_and_deleted_ones() {
        assert_eq!(gold_patch_files(PATCH), ["a.py", "gone.py"]);
        assert_eq!(diff_path("\"a/with space.py\"", "a/").as_deref(), Some("with space.py"));
        assert_eq!(diff_path("a/x.py\t2020-01-01", "a/").as_deref(), Some("x.py"));
    }

    #[test]
    fn oracle_text_holds_the_files_and_the_rule() {
        let inst = Instance { instance_id: "i".into(), problem_statement: " Fix it. \n".into(), ..Default::default() };
        assert_eq!(task_text(&inst, Mode::Standard, &[]), "Fix it.");
        let files = [OracleFile { path: "a.py".into(), content: "x = 1".into() }];
        let t = task_text(&inst, Mode::OracleEdit, &files);
        assert!(t.starts_with("Fix it.\n\n<oracle_files>\n"));
        assert!(t.contains("<file path=\"/testbed/a.py\">\nx = 1\n</file>\n"));
        assert!(t.ends_with("No other tool is available in this mode."));
    }

    #[test]
    fn oracle_mode_refuses_other_calls() {
        let m = Mode::OracleEdit;
        assert!(m.refuse(&ToolCall::submit()).is_none());
        let edit = ToolCall::editor("str_replace", "/testbed/a.py", &[("old_str", "x"), ("new_str", "y")]).unwrap();
        assert!(m.refuse(&edit).is_none());
        let e = m.refuse(&ToolCall::bash("ls")).unwrap();
        assert!(e.contains("got `bash`"), "{e}");
        let view = ToolCall::editor("view", "/testbed/a.py", &[]).unwrap();
        assert!(m.refuse(&view).unwrap().contains("`command` `view`"));
        assert!(Mode::Standard.refuse(&ToolCall::bash("ls")).is_none());
        assert_eq!("oracle-edit".parse::<Mode>().unwrap(), Mode::OracleEdit);
        assert_eq!("oracle_edit".parse::<Mode>().unwrap(), Mode::OracleEdit);
        assert_eq!(Mode::OracleEdit.to_string(), "oracle-edit");
        assert_eq!(
            "x".parse::<Mode>().unwrap_err().to_string(),
            "unknown mode \"x\": expected `standard` or `oracle-edit`"
        );
    }
}
