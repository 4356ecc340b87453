//! The evaluator against the real Docker daemon on the bundled tasks: gold resolves, no fix does not, a patch that
//! breaks a PASS_TO_PASS test does not, a fuzz-only patch is graded and says so, a hanging test run is a timeout, a
//! patch that applies nowhere is an error; a run writes SWE-bench's layout and resumes; replays of recorded
//! trajectories resolve, and a broken one names its first diverging step; a replay run writes its layout and keeps
//! what checks out.
//! Set SRL_SKIP_DOCKER=1 to leave these out on a machine without Docker.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use srl_core::{Instance, ToolCall};
use srl_eval::{
    ErrorKind, Harness, HarnessOptions, Keep, Prediction, ReplayLayout, ReplayOptions, ReplayRunOptions, RunLayout,
    gold_predictions, load_dataset, plan_run, replay, replay_run, summarize_run,
};
use srl_sandbox::{ImageBuilder, Sandbox, TaskSet};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The sandbox, or `None` when `SRL_SKIP_DOCKER=1` (see [`Sandbox::connect_for_test`]).
async fn sandbox() -> Option<Sandbox> {
    Sandbox::connect_for_test().await
}

fn instances() -> Vec<Instance> {
    load_dataset(&root().join("tasks/bundled.jsonl")).unwrap()
}

fn harness(sb: &Sandbox, options: HarnessOptions) -> Harness {
    let progress: srl_sandbox::Progress = Arc::new(|l: &str| eprintln!("[build] {l}"));
    let builder =
        ImageBuilder::new(sb, &root().join("docker"), &root().join("environments")).unwrap().progress(progress);
    Harness::new(sb.clone(), builder, TaskSet::bundled(&root().join("tasks")).unwrap(), options)
}

fn instance(id: &str) -> Instance {
    instances().into_iter().find(|i| i.instance_id == id).unwrap()
}

fn pred(inst: &Instance, model: &str, patch: &str) -> Prediction {
    Prediction {
        instance_id: inst.instance_id.clone(),
        model_name_or_path: model.into(),
        model_patch: Some(patch.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_resolves_every_bundled_task_and_the_run_resumes() {
    let Some(sb) = sandbox().await else { return };
    let h = harness(&sb, HarnessOptions::default());
    let all = instances();
    let preds = gold_predictions(&all);
    let dir = tempfile::tempdir().unwrap();
    let layout = RunLayout::new(dir.path(), "gold");
    let plan = plan_run(&all, &preds, &layout, false).unwrap();
    assert_eq!(plan.to_run.len(), all.len());
    let mut seen = 0;
    let evs = h.run(&layout, &plan, 2, |_| seen += 1).await.unwrap();
    assert_eq!(seen, all.len());
    for ev in &evs {
        assert!(ev.resolved(), "{}: {:?} {:?}", ev.instance_id, ev.extras, ev.test_output);
        assert_eq!(ev.extras.patch_method.as_deref(), Some("git apply --verbose"));
        let d = layout.instance_dir("gold", &ev.instance_id);
        for f in ["patch.diff", "eval.sh", "test_output.txt", "report.json", "srl_extras.json"] {
            assert!(d.join(f).is_file(), "{} missing in {}", f, d.display());
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap();
        let r = &report[&ev.instance_id];
        assert_eq!(r["resolved"], true);
        assert_eq!(r["patch_successfully_applied"], true);
        assert!(r["tests_status"]["FAIL_TO_PASS"]["failure"].as_array().unwrap().is_empty());
        assert_eq!(
            r["tests_status"]["FAIL_TO_PASS"]["success"].as_array().unwrap().len(),
            ev_instance(&all, &ev.instance_id).fail_to_pass.len()
        );
    }
    let summary = summarize_run(&all, &preds, &layout);
    assert_eq!((summary.resolved_instances, summary.error_instances), (all.len(), 0));
    assert_eq!(summary.resolve_rate, 1.0);
    // Re-running the same run id skips everything; --rerun plans everything again.
    assert_eq!(plan_run(&all, &preds, &layout, false).unwrap().already_graded.len(), all.len());
    assert_eq!(plan_run(&all, &preds, &layout, true).unwrap().to_run.len(), all.len());
}

fn ev_instance<'a>(all: &'a [Instance], id: &str) -> &'a Instance {
    all.iter().find(|i| i.instance_id == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fix_breaking_fuzz_hang_and_bad_patches() {
    let Some(sb) = sandbox().await else { return };
    let h = harness(&sb, HarnessOptions::default());
    let inst = instance("srl-swe__datekit-1");
    let gold = inst.patch.clone();

    // A patch that fixes nothing (a README line): the FAIL_TO_PASS tests still fail.
    let readme = "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1,2 @@\n";
    let first = std::fs::read_to_string(root().join("tasks/datekit/repo/README.md")).unwrap();
    let first = first.lines().next().unwrap();
    let nofix = format!("{readme} {first}\n+A line that fixes nothing.\n");
    let ev = h.evaluate(&inst, &pred(&inst, "nofix", &nofix)).await;
    let r = ev.report.as_ref().expect("graded");
    assert!(!r.resolved && r.patch_successfully_applied);
    let ts = r.tests_status.as_ref().unwrap();
    assert_eq!(ts.fail_to_pass.failure.len(), inst.fail_to_pass.len(), "every F2P test fails without the fix");
    assert!(ts.pass_to_pass.failure.is_empty());

    // Gold plus a hunk that breaks add_days: FAIL_TO_PASS pass, a PASS_TO_PASS test fails, not resolved.
    let at = gold.find("@@ -24,14").unwrap();
    let breaking = format!(
        "{}@@ -19,3 +19,3 @@ def month_end(d: date) -> date:\n def add_days(d: date, days: int) -> date:\n     \
         \"\"\"Return ``d`` shifted by ``days`` (which may be negative).\"\"\"\n-    return d + timedelta(days=days)\n\
         +    return d + timedelta(days=days + 1)\n{}",
        &gold[..at],
        &gold[at..]
    );
    let ev = h.evaluate(&inst, &pred(&inst, "breaking", &breaking)).await;
    let r = ev.report.as_ref().unwrap_or_else(|| panic!("graded: {:?}", ev.extras));
    let ts = r.tests_status.as_ref().unwrap();
    assert!(!r.resolved);
    assert!(ts.fail_to_pass.failure.is_empty(), "the fix is there: {:?}", ts.fail_to_pass.failure);
    assert!(
        ts.pass_to_pass.failure.iter().any(|t| t.contains("test_add_days_crosses_year")),
        "{:?}",
        ts.pass_to_pass.failure
    );

    // Gold with one context line changed: git apply refuses it, `patch --fuzz` applies it; graded and said so.
    let fuzzy = gold.replacen(" def add_months(d: date, months: int) -> date:\n", " def add_months(d, months):\n", 1);
    assert_ne!(fuzzy, gold);
    let ev = h.evaluate(&inst, &pred(&inst, "fuzzy", &fuzzy)).await;
    assert_eq!(ev.extras.patch_method.as_deref(), Some("patch --batch --no-backup-if-mismatch --fuzz=5 -p1 -i"));
    assert!(ev.resolved(), "{:?}", ev.extras);

    // Gold plus a conftest.py that hangs at collection: a timeout, no report.
    let hang = format!(
        "{gold}diff --git a/conftest.py b/conftest.py\nnew file mode 100644\n--- /dev/null\n+++ b/conftest.py\n\
         @@ -0,0 +1,2 @@\n+import time\n+time.sleep(600)\n"
    );
    let quick = harness(&sb, HarnessOptions { timeout: Duration::from_secs(8), ..HarnessOptions::default() });
    let ev = quick.evaluate(&inst, &pred(&inst, "hang", &hang)).await;
    assert_eq!(ev.error(), Some(&ErrorKind::Timeout), "{:?}", ev.extras);
    assert!(ev.report.is_none());
    assert!(ev.test_output.as_deref().unwrap().contains("Timeout error: 8 seconds exceeded."));
    assert!(ev.extras.duration_s.unwrap() < 60.0);

    // A patch for a file that does not exist: no method applies it; an error instance with the attempts named.
    let nowhere = "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n";
    let ev = h.evaluate(&inst, &pred(&inst, "nowhere", nowhere)).await;
    assert_eq!(ev.error(), Some(&ErrorKind::PatchFailed));
    assert!(ev.report.is_none());
    let msg = ev.extras.message.as_deref().unwrap();
    assert!(msg.contains("git apply --verbose") && msg.contains("patch --batch"), "{msg}");
    assert!(ev.test_output.as_deref().unwrap().starts_with(">>>>> Patch Apply Failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_without_its_repository_is_an_error_that_names_it_and_its_deviation() {
    let Some(sb) = sandbox().await else { return };
    let h = harness(&sb, HarnessOptions::default());
    let verified = load_dataset(&root().join("../shared/data/swe-bench/verified.jsonl")).unwrap();
    // Django 3.0: SWE-bench's Python 3.6 is built on bullseye's 3.9 (said), but there is no mirror of Django here:
    // an error instance that says what is missing, found before any image is built.
    let inst = verified.iter().find(|i| i.repo == "django/django" && i.version == "3.0").unwrap();
    let ev = h.evaluate(inst, &pred(inst, "gold", &inst.patch)).await;
    assert_eq!(ev.error(), Some(&ErrorKind::ImageBuildFailed), "{:?}", ev.extras);
    let msg = ev.extras.message.clone().unwrap();
    assert!(msg.contains("django__django") && msg.contains("--mirror-dir"), "{msg}");
    let deviation = ev.extras.environment_deviation.unwrap();
    assert!(deviation.contains("Python 3.6") && deviation.contains("bullseye's Python 3.9"), "{deviation}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_resolve_and_a_broken_one_names_its_first_diverging_step() {
    let Some(sb) = sandbox().await else { return };
    let h = harness(&sb, HarnessOptions::default());
    let opts = ReplayOptions::default();
    let inst = instance("srl-swe__wordstat-1");
    let t = srl_data::read_path(&root().join("tasks/wordstat/trajectory.json"), srl_data::Format::Auto)
        .unwrap()
        .pop()
        .unwrap();
    let r = replay(&h, &inst, &t, &opts).await;
    assert_eq!(r.report.resolved, Some(true), "{:?}", r.report);
    assert_eq!(r.report.patch_matches_recorded, Some(true));
    assert_eq!((r.report.steps_replayed, r.report.steps_errored), (t.steps.len(), 0));
    assert!(r.report.first_divergence.is_none(), "{:?}", r.report.first_divergence);
    assert!(r.report.mean_similarity > 0.95, "{}", r.report.mean_similarity);
    assert_eq!(r.trajectory.resolved, Some(true));

    // A recorded step that had the network (a name lookup that printed nothing): the replay's container has none,
    // and the report says so where the observation diverges.
    let mut online = t.clone();
    let mut lookup = online.steps[0].clone();
    lookup.action = ToolCall::bash("python3 -c \"import socket; socket.getaddrinfo('pypi.org', 443)\"");
    lookup.observation = String::new();
    online.steps.insert(0, lookup);
    let r = replay(&h, &inst, &online, &opts).await;
    assert_eq!(r.report.steps_without_network, 1, "{:?}", r.report.steps);
    let d = r.report.first_divergence.as_ref().expect("the lookup diverges");
    assert_eq!(d.step, 1);
    assert!(d.no_network.is_some() && r.report.steps[0].no_network.is_some(), "{d:?}");
    assert!(r.report.line().contains("1 wanted the network") && r.report.line().contains("no network: `"));
    assert_eq!(r.report.resolved, Some(true));

    // Break the first edit: its old_str no longer matches the file, so the editor refuses it.
    let mut broken = t.clone();
    let k = broken
        .steps
        .iter()
        .position(|s| s.action.param("command") == Some("str_replace"))
        .expect("the trajectory edits a file");
    let a = &broken.steps[k].action;
    let params = a.params().iter().map(|(key, v)| {
        let v = if key == "old_str" { format!("{v}  # not in the file") } else { v.clone() };
        (key.clone(), v)
    });
    broken.steps[k].action = ToolCall::new(a.name().to_string(), params).unwrap();
    let r = replay(&h, &inst, &broken, &opts).await;
    let d = r.report.first_divergence.as_ref().expect("diverges");
    assert_eq!(d.step, k + 1, "{:?}", r.report.steps);
    assert_eq!(d.tool, "str_replace_editor");
    assert!(r.report.steps_errored >= 1);
    assert_ne!(r.report.resolved, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_run_writes_its_layout_and_keeps_what_checks_out() {
    let Some(sb) = sandbox().await else { return };
    let h = harness(&sb, HarnessOptions::default());
    let t = srl_data::read_path(&root().join("tasks/wordstat/trajectory.json"), srl_data::Format::Auto)
        .unwrap()
        .pop()
        .unwrap();
    let mut stranger = t.clone();
    stranger.instance_id = "nobody/else-1".into();
    let dir = tempfile::tempdir().unwrap();
    let layout = ReplayLayout::new(RunLayout::new(dir.path(), "replay"));
    let opts = ReplayRunOptions { keep: Some(Keep::Verified), ..ReplayRunOptions::default() };
    let mut lines = Vec::new();
    let run = replay_run(&h, &instances(), &[stranger, t.clone()], &layout, &opts, &mut |r| lines.push(r.line()))
        .await
        .unwrap();
    lines.sort();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("nobody/else-1 ("), "{lines:?}");
    assert!(lines[0].contains("error: nobody/else-1 is not in the dataset (pick it with --dataset FILE); 0/"));
    assert!(lines[1].starts_with("srl-swe__wordstat-1 (") && lines[1].contains("): resolved; "), "{lines:?}");
    assert_eq!((run.summary.trajectories, run.summary.resolved, run.summary.errors), (2, 1, 1));
    assert_eq!(run.reports[0].instance_id, "nobody/else-1", "input order");
    assert_eq!(run.summary_path, dir.path().join("replay/replay_summary.json"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run.summary_path).unwrap()).unwrap();
    assert_eq!(summary["resolved"], 1);
    let (kept, kept_path) = run.kept.unwrap();
    assert_eq!((kept, kept_path.clone()), (1, dir.path().join("replay/kept.jsonl")));
    let back = srl_data::read_path(&kept_path, srl_data::Format::Auto).unwrap();
    assert_eq!((back.len(), back[0].resolved), (1, Some(true)));
    for (i, id) in [(0, "nobody_else-1"), (1, "srl-swe__wordstat-1")] {
        let d = dir.path().join(format!("replay/replay/{:04}-{id}", i + 1));
        assert_eq!(d, layout.trajectory_dir(i, &run.reports[i].instance_id));
        assert!(d.join("replay.json").is_file() && d.join("trajectory.json").is_file(), "{}", d.display());
    }
    assert!(layout.run.is_graded("replay", "srl-swe__wordstat-1"));
}
