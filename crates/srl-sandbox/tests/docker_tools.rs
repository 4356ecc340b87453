//! The tools (editor, bash, submit) and patches against the real Docker daemon, on the bundled tasks' images.

mod common;

use std::collections::HashSet;

use srl_core::ToolCall;
use srl_sandbox::{ApplyMethod, Container, ContainerOptions, ExecOptions};

fn ed(command: &str, path: &str, extra: &[(&str, &str)]) -> ToolCall {
    ToolCall::editor(command, path, extra).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editor_commands_and_messages() {
    let Some(sb) = common::sandbox().await else { return };
    let imgs = common::images(&sb).await;
    let (inst, image) = &imgs.instances[0];
    let c = Container::start(&sb, image, &ContainerOptions::default()).await.unwrap();
    c.configure_tools(|t| t.base_commit = Some(inst.base_commit.clone()));
    let run = |call: ToolCall| {
        let c = &c;
        async move { c.run_tool(&call).await.unwrap() }
    };

    // create, then refuse to overwrite
    let o = run(ed("create", "/testbed/pkg_new/mod.py", &[("file_text", "a = 1\n\tb = 2\nc = 3\nc = 3")])).await;
    assert_eq!(o.text, "File created successfully at: /testbed/pkg_new/mod.py");
    let o = run(ed("create", "/testbed/pkg_new/mod.py", &[("file_text", "x")])).await;
    assert!(o.error);
    assert_eq!(
        o.text,
        "File already exists at: /testbed/pkg_new/mod.py. Cannot overwrite files using command `create`."
    );

    // view a file, with and without a range
    let o = run(ed("view", "/testbed/pkg_new/mod.py", &[])).await;
    assert_eq!(
        o.text,
        "Here's the result of running `cat -n` on /testbed/pkg_new/mod.py:\n     1\ta = 1\n     2\t        b = 2\n     3\tc = 3\n     4\tc = 3\n"
    );
    let o = run(ed("view", "/testbed/pkg_new/mod.py", &[("view_range", "[2, 3]")])).await;
    assert_eq!(
        o.text,
        "Here's the result of running `cat -n` on /testbed/pkg_new/mod.py:\n     2\t        b = 2\n     3\tc = 3\n"
    );
    let o = run(ed("view", "/testbed/pkg_new/mod.py", &[("view_range", "[3, -1]")])).await;
    assert_eq!(
        o.text,
        "Here's the result of running `cat -n` on /testbed/pkg_new/mod.py:\n     3\tc = 3\n     4\tc = 3\n"
    );
    let o = run(ed("view", "/testbed/pkg_new/mod.py", &[("view_range", "[1, 50]")])).await;
    assert_eq!(
        o.text,
        "Invalid `view_range` parameter: [1, 50]. Its second element `50` should be smaller than the number of lines in the file: `4`."
    );
    let o = run(ed("view", "/testbed/pkg_new/mod.py", &[("view_range", "[0, 2]")])).await;
    assert_eq!(
        o.text,
        "Invalid `view_range` parameter: [0, 2]. Its first element `0` should be within the range of lines of the file: [1, 4]."
    );
    let o = run(ed("view", "/testbed/pkg_new/mod.py", &[("view_range", "[3, 2]")])).await;
    assert_eq!(
        o.text,
        "Invalid `view_range` parameter: [3, 2]. Its second element `2` should be larger or equal than its first `3`."
    );
    let o = run(ed("view", "/testbed/pkg_new/mod.py", &[("view_range", "nope")])).await;
    assert_eq!(o.text, "Invalid `view_range`. It should be a list of two integers.");

    // view a directory: two levels, no hidden files
    let o = run(ed("view", "/testbed", &[])).await;
    assert!(
        o.text.starts_with(
            "Here's the files and directories up to 2 levels deep in /testbed, excluding hidden items:\n/testbed\n"
        ),
        "{}",
        o.text
    );
    assert!(o.text.contains("/testbed/pkg_new/mod.py\n") && !o.text.contains(".git"));
    let o = run(ed("view", "/testbed", &[("view_range", "[1, 2]")])).await;
    assert_eq!(o.text, "The `view_range` parameter is not allowed when `path` points to a directory.");

    // str_replace: unique, missing, multiple, identical
    let o = run(ed("str_replace", "/testbed/pkg_new/mod.py", &[("old_str", "a = 1"), ("new_str", "a = 10")])).await;
    assert_eq!(
        o.text,
        "The file /testbed/pkg_new/mod.py has been edited. Here's the result of running `cat -n` on a snippet of /testbed/pkg_new/mod.py:\n     1\ta = 10\n     2\t        b = 2\n     3\tc = 3\n     4\tc = 3\nReview the changes and make sure they are as expected. Edit the file again if necessary."
    );
    let o = run(ed("str_replace", "/testbed/pkg_new/mod.py", &[("old_str", "zzz"), ("new_str", "y")])).await;
    assert_eq!(
        o.text,
        "No replacement was performed, old_str `zzz` did not appear verbatim in /testbed/pkg_new/mod.py."
    );
    let o = run(ed("str_replace", "/testbed/pkg_new/mod.py", &[("old_str", "c = 3"), ("new_str", "c = 4")])).await;
    assert_eq!(
        o.text,
        "No replacement was performed. Multiple occurrences of old_str `c = 3` in lines [3, 4]. Please ensure it is unique"
    );
    let o = run(ed("str_replace", "/testbed/pkg_new/mod.py", &[("old_str", "a = 10"), ("new_str", "a = 10")])).await;
    assert_eq!(o.text, "No replacement was performed. `new_str` and `old_str` must be different.");

    // insert after line N, and a bad N
    let o = run(ed("insert", "/testbed/pkg_new/mod.py", &[("insert_line", "1"), ("new_str", "z = 0")])).await;
    assert_eq!(
        o.text,
        "The file /testbed/pkg_new/mod.py has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n     1\ta = 10\n     2\tz = 0\n     3\t        b = 2\n     4\tc = 3\n     5\tc = 3\nReview the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary."
    );
    let o = run(ed("insert", "/testbed/pkg_new/mod.py", &[("insert_line", "99"), ("new_str", "q")])).await;
    assert_eq!(
        o.text,
        "Invalid `insert_line` parameter: 99. It should be within the range of lines of the file: [0, 5]"
    );

    // undo_edit: back to before the insert, then before the replace, then the created text, then nothing
    let o = run(ed("undo_edit", "/testbed/pkg_new/mod.py", &[])).await;
    assert!(o.text.starts_with("Last edit to /testbed/pkg_new/mod.py undone successfully. Here's the result of running `cat -n` on /testbed/pkg_new/mod.py:\n     1\ta = 10\n     2\t        b = 2\n"), "{}", o.text);
    run(ed("undo_edit", "/testbed/pkg_new/mod.py", &[])).await;
    let (_, content, _) = c.exec_argv(&["cat", "/testbed/pkg_new/mod.py"]).await.unwrap();
    assert_eq!(content, "a = 1\n        b = 2\nc = 3\nc = 3");
    run(ed("undo_edit", "/testbed/pkg_new/mod.py", &[])).await;
    let o = run(ed("undo_edit", "/testbed/pkg_new/mod.py", &[])).await;
    assert_eq!(o.text, "No edit history found for /testbed/pkg_new/mod.py.");

    // path errors
    let o = run(ed("view", "testbed/x.py", &[])).await;
    assert_eq!(
        o.text,
        "The path testbed/x.py is not an absolute path, it should start with `/`. Maybe you meant /testbed/x.py?"
    );
    let o = run(ed("view", "/testbed/missing.py", &[])).await;
    assert_eq!(o.text, "The path /testbed/missing.py does not exist. Please provide a valid path.");
    let o = run(ed("str_replace", "/testbed/pkg_new", &[("old_str", "a")])).await;
    assert_eq!(
        o.text,
        "The path /testbed/pkg_new is a directory and only the `view` command can be used on directories"
    );
    let o = run(ed("view", "/etc/passwd", &[])).await;
    assert!(o.error && o.text.contains("outside the directories"), "{}", o.text);
    let o = run(ed("view", "/testbed/../etc/passwd", &[])).await;
    assert!(o.error && o.text.contains("outside the directories"), "{}", o.text);
    c.exec("ln -s /etc /testbed/sneaky", &ExecOptions::default()).await.unwrap();
    let o = run(ed("view", "/testbed/sneaky/passwd", &[])).await;
    assert!(o.error && o.text.contains("outside the directories"), "{}", o.text);
    c.exec("rm /testbed/sneaky", &ExecOptions::default()).await.unwrap();
    let o = run(ed("create", "/testbed/x.py", &[])).await;
    assert_eq!(o.text, "Parameter `file_text` is required for command: create");

    // an edit keeps the file mode
    c.exec("printf 'echo hi\\n' > /testbed/run.sh && chmod 755 /testbed/run.sh", &ExecOptions::default())
        .await
        .unwrap();
    run(ed("str_replace", "/testbed/run.sh", &[("old_str", "hi"), ("new_str", "ho")])).await;
    let o = c.exec("stat -c %a /testbed/run.sh && ./run.sh", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output, "755\nho\n");

    // bash through run_tool: \r\n becomes \n, exit code kept
    let o = run(ToolCall::bash("printf 'a\\r\\nb\\n'; exit 2")).await;
    assert_eq!((o.text.as_str(), o.exit_code), ("a\nb\n", Some(2)));

    // submit: every change against the base commit, new and binary files included
    c.exec("rm /testbed/run.sh && printf 'a\\000b\\001' > /testbed/blob.bin", &ExecOptions::default()).await.unwrap();
    let o = run(ToolCall::submit()).await;
    let patch = o.patch.unwrap();
    assert_eq!(o.text, patch);
    assert!(patch.contains("diff --git a/pkg_new/mod.py b/pkg_new/mod.py\nnew file mode 100644"), "{patch}");
    assert!(patch.contains("+a = 1\n+\tb = 2\n+c = 3\n+c = 3\n\\ No newline at end of file"), "{patch}");
    assert!(patch.contains("Binary files /dev/null and b/blob.bin differ"), "{patch}");
    assert!(!patch.contains("run.sh"));
    c.remove().await.unwrap();
    common::assert_clean(&sb).await;
}

fn test_files(test_patch: &str) -> Vec<String> {
    test_patch
        .lines()
        .filter_map(|l| l.strip_prefix("diff --git a/"))
        .filter_map(|l| l.split(" b/").nth(1))
        .map(str::to_string)
        .collect()
}

fn passed(log: &str) -> HashSet<String> {
    // As SWE-bench's pytest parser: the first token after the status (ids with spaces are cut there, in the
    // dataset too).
    log.lines()
        .filter_map(|l| l.strip_prefix("PASSED "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_patches_apply_and_make_fail_to_pass_pass() {
    let Some(sb) = common::sandbox().await else { return };
    let imgs = common::images(&sb).await;
    for (inst, image) in &imgs.instances {
        let c = Container::start(&sb, image, &ContainerOptions::default()).await.unwrap();
        let r = c.apply_patch(&inst.test_patch).await.unwrap();
        assert_eq!(r.method, Some(ApplyMethod::GitApply), "{}: {}", inst.instance_id, r.summary());
        let cmd = format!("pytest -rA {}", test_files(&inst.test_patch).join(" "));
        let before = c.exec(&cmd, &ExecOptions::default()).await.unwrap();
        let p = passed(&before.output);
        assert!(
            inst.fail_to_pass.iter().any(|t| !p.contains(t)),
            "{}: FAIL_TO_PASS pass before the fix",
            inst.instance_id
        );
        let r = c.apply_patch(&inst.patch).await.unwrap();
        assert_eq!(r.method, Some(ApplyMethod::GitApply), "{}: {}", inst.instance_id, r.summary());
        let after = c.exec(&cmd, &ExecOptions::default()).await.unwrap();
        let p = passed(&after.output);
        for t in inst.fail_to_pass.iter().chain(&inst.pass_to_pass) {
            assert!(p.contains(t), "{}: {t} did not pass:\n{}", inst.instance_id, after.output);
        }
        c.remove().await.unwrap();
    }
    common::assert_clean(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_fallbacks_are_reported() {
    let Some(sb) = common::sandbox().await else { return };
    let imgs = common::images(&sb).await;
    let (_, image) = &imgs.instances[0];
    let c = Container::start(&sb, image, &ContainerOptions::default()).await.unwrap();
    c.exec(
        "printf 'l1\\nl2\\nl3\\nl4\\nl5\\nl6\\nl7\\n' > f.txt && git add f.txt && git commit -qm f",
        &ExecOptions::default(),
    )
    .await
    .unwrap();
    // Context that is off by a line-content change: git apply refuses, patch --fuzz applies.
    let fuzzy = "diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n@@ -1,7 +1,7 @@\n CHANGED1\n l2\n l3\n-l4\n+L4\n l5\n l6\n CHANGED7\n";
    let r = c.apply_patch(fuzzy).await.unwrap();
    assert_eq!(r.method, Some(ApplyMethod::PatchFuzz), "{}", r.summary());
    assert_eq!(r.attempts.len(), 3);
    let o = c.exec("cat f.txt", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output, "l1\nl2\nl3\nL4\nl5\nl6\nl7\n");
    // Garbage: no method works, each attempt is reported, the tree is unchanged.
    let r = c
        .apply_patch("diff --git a/nope.txt b/nope.txt\n--- a/nope.txt\n+++ b/nope.txt\n@@ -1 +1 @@\n-x\n+y\n")
        .await
        .unwrap();
    assert_eq!(r.method, None);
    assert_eq!(r.attempts.len(), 3);
    assert!(r.summary().starts_with("no method applied the patch:"), "{}", r.summary());
    let o = c.exec("git status --porcelain", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output, " M f.txt\n");
    assert!(!c.apply_patch("").await.unwrap().applied());
    c.remove().await.unwrap();
    common::assert_clean(&sb).await;
}
