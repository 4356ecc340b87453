//! `srl-swe eval` and `srl-swe replay` as a user runs them, against the real Docker daemon on the bundled tasks.
//! Set SRL_SKIP_DOCKER=1 to leave them out on a machine without Docker.

use common::{bin, json, root, skip_docker as skip, srl, text};

mod common;

const IDS: &str = "srl-swe__datekit-1,srl-swe__unitconv-1";

#[test]
fn eval_gold_and_empty_on_bundled_tasks_with_resume() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().to_str().unwrap();
    let args = ["eval", "--split", "bundled", "--predictions", "gold", "--instance-ids", IDS];
    let out = srl(&[&args[..], &["--report-dir", report_dir, "--run-id", "r1"]].concat());
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("resolve rate: 2/7 = 28.6% of the dataset (100.0% of the 2 submitted)"), "{stdout}");
    let summary = json(&dir.path().join("r1/summary.json"));
    assert_eq!(summary["resolved_instances"], 2);
    assert_eq!(summary["total_instances"], 7);
    assert_eq!(summary["submitted_instances"], 2);
    assert_eq!(summary["error_instances"], 0);
    let report = json(&dir.path().join("r1/gold/srl-swe__datekit-1/report.json"));
    assert_eq!(report["srl-swe__datekit-1"]["resolved"], true);

    // The same run id again: nothing to grade, same summary.
    let out = srl(&[&args[..], &["--report-dir", report_dir, "--run-id", "r1"]].concat());
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("0 to grade, 2 already graded"), "{}", text(&out.stdout));
    assert_eq!(json(&dir.path().join("r1/summary.json"))["resolved_instances"], 2);

    // Empty predictions: not run, 0% resolved, counted as empty patches.
    let out =
        srl(&["eval", "--split", "bundled", "--predictions", "empty", "--report-dir", report_dir, "--run-id", "r2"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let summary = json(&dir.path().join("r2/summary.json"));
    assert_eq!((summary["resolved_instances"].as_u64(), summary["empty_patch_instances"].as_u64()), (Some(0), Some(7)));
}

/// `--validate`: the gold run, the empty patches run as the control (their tests on the unpatched repository),
/// and the per-repository table beside them.
#[test]
fn eval_validate_runs_gold_and_the_empty_control_and_writes_the_table() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().to_str().unwrap();
    let args = ["eval", "--split", "bundled", "--validate", "--instance-ids", IDS, "--report-dir", report_dir];
    let out = srl(&[&args[..], &["--run-id", "v"]].concat());
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("validation: 2 instances, gold resolved 2, empty resolved 0, errors 0"), "{stdout}");
    // The control ran: a test log, a graded report (unresolved) and the no-patch method, not an empty-patch skip.
    let id = "srl-swe__datekit-1";
    let report = json(&dir.path().join(format!("v.empty/empty/{id}/report.json")));
    assert_eq!(report[id]["resolved"], false);
    assert!(report[id]["tests_status"]["FAIL_TO_PASS"]["failure"].as_array().is_some_and(|f| !f.is_empty()));
    let extras = json(&dir.path().join(format!("v.empty/empty/{id}/srl_extras.json")));
    assert_eq!(extras["patch_method"], srl_eval::NO_PATCH);
    let summary = json(&dir.path().join("v.empty/summary.json"));
    assert_eq!(
        (summary["completed_instances"].as_u64(), summary["empty_patch_instances"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(json(&dir.path().join("v.gold/summary.json"))["resolved_instances"], 2);
    let table = json(&dir.path().join("v.validation/validation.json"));
    assert_eq!(table["repos"].as_array().map(Vec::len), Some(2));
    assert_eq!((table["total"]["gold_resolved"].as_u64(), table["total"]["errors"].as_u64()), (Some(2), Some(0)));
    let md = std::fs::read_to_string(dir.path().join("v.validation/validation.md")).unwrap();
    assert!(md.contains("Every gold patch resolves its instance and no empty patch does."), "{md}");
    // Again: both runs resume (nothing graded twice).
    let out = srl(&[&args[..], &["--run-id", "v"]].concat());
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches("0 to grade, 2 already graded").count(), 2, "{}", text(&out.stdout));
}

/// From any folder: the bundled tasks, recipes and specs are found without the checkout as the working directory
/// (the checkout the binary was built from); SRL_HOME names the folder explicitly (empty: unset).
#[test]
fn eval_runs_from_any_folder() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = ["eval", "--split", "bundled", "--predictions", "empty", "--run-id"];
    let out = bin().current_dir(dir.path()).args(args).arg("away").output().unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let summary = json(&dir.path().join("logs/away/summary.json"));
    assert_eq!((summary["total_instances"].as_u64(), summary["empty_patch_instances"].as_u64()), (Some(7), Some(7)));
    let out = bin().current_dir(dir.path()).env("SRL_HOME", root()).args(args).arg("home").output().unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    // An empty SRL_HOME is unset, not the working directory.
    let out = bin().current_dir(dir.path()).env("SRL_HOME", "").args(args).arg("empty-home").output().unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let out = bin().current_dir(dir.path()).env("SRL_HOME", dir.path()).args(args).arg("nowhere").output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && stderr.contains("tasks/bundled.jsonl"), "{stderr}");
}

#[test]
fn eval_reads_a_predictions_file_and_reports_errors_per_instance() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let preds = dir.path().join("preds.jsonl");
    let lines = [serde_json::json!({"instance_id": "srl-swe__datekit-1", "model_name_or_path": "org/model",
            "model_patch": "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-a\n+b\n"})];
    std::fs::write(&preds, lines.iter().map(|l| l.to_string() + "\n").collect::<String>()).unwrap();
    let out = srl(&[
        "eval",
        "--split",
        "bundled",
        "--predictions",
        preds.to_str().unwrap(),
        "--report-dir",
        dir.path().to_str().unwrap(),
        "--run-id",
        "bad",
    ]);
    assert!(out.status.success(), "a patch that applies nowhere is an error instance, not a failed run");
    let summary = json(&dir.path().join("bad/summary.json"));
    assert_eq!(summary["error_ids"], serde_json::json!(["srl-swe__datekit-1"]));
    let extras = json(&dir.path().join("bad/org__model/srl-swe__datekit-1/srl_extras.json"));
    assert_eq!(extras["error"], "patch_failed");
    assert!(!dir.path().join("bad/org__model/srl-swe__datekit-1/report.json").exists());

    // A malformed predictions line names the file and the line.
    std::fs::write(&preds, "{\"instance_id\": \"srl-swe__datekit-1\"}\n{oops\n").unwrap();
    let out = srl(&["eval", "--split", "bundled", "--predictions", preds.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("preds.jsonl: line 2"), "{}", text(&out.stderr));

    // A split that is not in the local Hugging Face cache says how to pass a file.
    let out = common::bin()
        .env("HF_HOME", dir.path())
        .env("HF_DATASETS_CACHE", dir.path())
        .env("HOME", dir.path())
        .args(["eval", "--split", "lite", "--predictions", "gold"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--dataset FILE"), "{}", text(&out.stderr));
}

#[test]
fn replay_keeps_the_resolved_trajectories() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = srl(&[
        "replay",
        "tasks/datekit/trajectory.json",
        "tasks/exprcalc/trajectory.json",
        "--keep",
        "resolved",
        "--report-dir",
        dir.path().to_str().unwrap(),
        "--run-id",
        "rp",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let summary = json(&dir.path().join("rp/replay_summary.json"));
    assert_eq!((summary["trajectories"].as_u64(), summary["resolved"].as_u64()), (Some(2), Some(2)));
    let report = json(&dir.path().join("rp/replay/0001-srl-swe__datekit-1/replay.json"));
    assert_eq!(report["resolved"], true);
    assert!(report["first_divergence"].is_null());
    let kept = std::fs::read_to_string(dir.path().join("rp/kept.jsonl")).unwrap();
    assert_eq!(kept.lines().count(), 2);
    // What --keep writes reads back as trajectories.
    let back = srl_data::read_path(&dir.path().join("rp/kept.jsonl"), srl_data::Format::Auto).unwrap();
    assert_eq!(back.len(), 2);
    assert!(back.iter().all(|t| t.resolved == Some(true)));
}

#[test]
fn eval_runs_a_scripted_agent_end_to_end_and_resumes() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script");
    std::fs::create_dir_all(&script).unwrap();
    for name in ["datekit", "wordstat"] {
        std::fs::copy(root().join(format!("tasks/{name}/trajectory.json")), script.join(format!("{name}.json")))
            .unwrap();
    }
    let policy = format!("scripted:{}", script.display());
    let report_dir = dir.path().join("logs");
    let args = [
        "eval",
        "--split",
        "bundled",
        "--instance-ids",
        "srl-swe__datekit-1,srl-swe__wordstat-1",
        "--policy",
        &policy,
        "--report-dir",
        report_dir.to_str().unwrap(),
        "--run-id",
        "agent",
    ];
    let out = srl(&args);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("srl-swe__wordstat-1: submitted after 13 calls (0 format errors)"), "{stdout}");
    let summary = json(&report_dir.join("agent/summary.json"));
    assert_eq!(summary["resolved_instances"], 2, "{stdout}");
    let model_dir = report_dir.join("agent").join(format!("scripted:{}", script.display()).replace('/', "__"));
    let inst = model_dir.join("srl-swe__datekit-1");
    for f in ["trajectory.jsonl", "episode.json", "prediction.json", "report.json"] {
        assert!(inst.join(f).is_file(), "{f} missing in {}", inst.display());
    }
    // The agent's trajectory reads back through the importer, with the expert's actions.
    let t = srl_data::read_path(&inst.join("trajectory.jsonl"), srl_data::Format::Auto).unwrap().pop().unwrap();
    let expert = srl_data::read_path(&root().join("tasks/datekit/trajectory.json"), srl_data::Format::Auto)
        .unwrap()
        .pop()
        .unwrap();
    let actions = |t: &srl_core::Trajectory| t.steps.iter().map(|s| s.action.render()).collect::<Vec<_>>();
    assert_eq!(actions(&t), actions(&expert));
    // SWE-bench predictions, one per instance.
    let preds = std::fs::read_to_string(report_dir.join("agent/predictions.jsonl")).unwrap();
    assert_eq!(preds.lines().count(), 2);
    let p: serde_json::Value = serde_json::from_str(preds.lines().next().unwrap()).unwrap();
    assert_eq!(p["model_name_or_path"], policy.as_str());
    assert!(p["model_patch"].as_str().unwrap().contains("diff --git"));
    // Again: neither the episodes nor the grading run twice.
    let out = srl(&args);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("srl-swe__datekit-1: episode done earlier; resolved (graded earlier)"), "{stdout}");
}

#[test]
fn a_garbage_policy_ends_by_the_format_rule_and_is_not_resolved() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    let out = srl(&["model", "init", "--out", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report_dir = dir.path().join("logs");
    let out = srl(&[
        "eval",
        "--split",
        "bundled",
        "--instance-ids",
        "srl-swe__datekit-1",
        "--policy",
        model.to_str().unwrap(),
        "--max-tokens",
        "32",
        "--temperature",
        "1.0",
        "--report-dir",
        report_dir.to_str().unwrap(),
        "--run-id",
        "tiny",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("srl-swe__datekit-1: format_errors after 3 calls (3 format errors)"), "{stdout}");
    let summary = json(&report_dir.join("tiny/summary.json"));
    assert_eq!(summary["resolved_instances"], 0);
    assert_eq!(summary["submitted_instances"], 1);
    let inst = report_dir.join("tiny").join(model.to_str().unwrap().replace('/', "__")).join("srl-swe__datekit-1");
    let episode = json(&inst.join("episode.json"));
    assert_eq!(episode["format_errors"], 3);
    let t = srl_data::read_path(&inst.join("trajectory.jsonl"), srl_data::Format::Auto).unwrap().pop().unwrap();
    assert!(t.steps.is_empty(), "no action ran");

    // rollout prints the episode live.
    let out = srl(&[
        "rollout",
        "--task",
        "srl-swe__datekit-1",
        "--policy",
        model.to_str().unwrap(),
        "--max-tokens",
        "32",
        "--temperature",
        "1.0",
        "--raw",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("prompts: window 2, system swe-agent"), "{stdout}");
    assert!(stdout.contains("\n=== srl-swe__datekit-1 with "), "{stdout}");
    assert!(
        stdout.contains("--- completion 1 (")
            && !stdout.contains("--- completion 0 (")
            && stdout.contains("--- call 3: format error (3 in a row)"),
        "{stdout}"
    );
    assert!(stdout.contains("=== format_errors after 3 calls: 0 actions, 3 format errors"), "{stdout}");
}

#[test]
fn the_quickstart_model_runs_the_agent_loop_with_its_training_prompts() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    let run = dir.path().join("run");
    let out = srl(&[
        "train",
        "--config",
        "configs/quickstart.toml",
        "--out",
        run.to_str().unwrap(),
        "--set",
        &format!("model.path={}", model.display()),
        "--set",
        "algorithm.steps=3",
        "--set",
        "sft.warmup_steps=2",
        "--set",
        "grpo.prompts_per_batch=1",
        "--set",
        "grpo.group_size=2",
        "--set",
        "sampling.max_new_tokens=8",
        "--set",
        "validation.every=3",
        "--set",
        "validation.max_examples=1",
    ]);
    assert!(out.status.success(), "train: {}", text(&out.stderr));
    let policy = run.join("final");
    let out = srl(&[
        "rollout",
        "--task",
        "srl-swe__datekit-1",
        "--policy",
        policy.to_str().unwrap(),
        "--max-tokens",
        "48",
        "--max-steps",
        "4",
    ]);
    assert!(out.status.success(), "rollout: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // The prompts are rendered as in training (read from final/prompt.json), and the episode ends by a rule.
    assert!(stdout.contains("system compact, task compact") && stdout.contains("prompt.json"), "{stdout}");
    assert!(stdout.contains("=== "), "{stdout}");
    assert!(
        ["format_errors after", "step_limit after", "submitted after"].iter().any(|e| stdout.contains(e)),
        "{stdout}"
    );
}

/// `kill -9` of `srl-swe eval` mid-run: no container of the run is left a few seconds later, without `gc` (each
/// container's main process ends when the killed process's connection closes, and Docker removes it). Killed while
/// its one container runs (one worker: no other container is between its creation and its start, a window whose
/// leftover, a created container that never ran, the next command removes).
#[test]
fn a_killed_eval_leaves_no_container() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run_id = format!("killed-{}", std::process::id());
    let mut child = bin()
        .args(["eval", "--split", "bundled", "--predictions", "gold", "--max-workers", "1"])
        .args(["--report-dir", dir.path().to_str().unwrap(), "--run-id", &run_id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sb = srl_sandbox::Sandbox::connect().await.unwrap();
        // (containers of the run, how many of them run)
        let ours = async || {
            let l = sb.list_containers(Some(&run_id)).await.unwrap();
            let running = l.iter().filter(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running")).count();
            (l.len(), running)
        };
        let end = std::time::Instant::now() + std::time::Duration::from_secs(600);
        while ours().await.1 == 0 {
            assert!(child.try_wait().unwrap().is_none(), "eval ended before any container ran");
            assert!(std::time::Instant::now() < end, "no container of the run appeared");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        child.kill().unwrap(); // SIGKILL: no handler, no destructor runs
        child.wait().unwrap();
        let killed = std::time::Instant::now();
        while ours().await.0 > 0 {
            assert!(killed.elapsed().as_secs() < 10, "containers of the killed run are still there after 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
}

#[test]
fn docker_host_errors_name_the_engine_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("logs");
    let base = ["eval", "--split", "bundled", "--predictions", "gold", "--report-dir", report_dir.to_str().unwrap()];
    let out = srl(&[&base[..], &["--docker-host", "tcp://127.0.0.1:1"]].concat());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("Docker daemon unreachable (tcp://127.0.0.1:1: "), "{err}");
    let out = srl(&[&base[..], &["--docker-host", "ftp://x"]].concat());
    assert!(
        text(&out.stderr).contains("ftp://x: expected `local`, unix:///PATH, tcp://HOST:PORT"),
        "{}",
        text(&out.stderr)
    );
    let hosts = dir.path().join("hosts.toml");
    std::fs::write(&hosts, "[[host]]\nurl = \"local\"\ncapacity = 0\n").unwrap();
    let out = srl(&[&base[..], &["--hosts-file", hosts.to_str().unwrap()]].concat());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("hosts.toml: host 1 (local): capacity must be at least 1"), "{err}");
}

/// SWE-bench splits as Hugging Face keeps them, read before any container starts (no Docker needed): a Parquet
/// file given as --dataset, and the test shards of `--split lite` in a hub cache; a bad row names file, row and column.
#[test]
fn eval_reads_parquet_datasets_and_names_bad_rows() {
    use srl_data::parquet::{Codec, ColumnValues, write_columns};
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &std::path::Path, ids: &[&str], f2p: &[&str]| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let strs = |v: &[&str]| ColumnValues::Str(v.iter().map(|s| Some(s.to_string())).collect());
        let repo = vec!["pallets/flask"; ids.len()];
        let columns = [("repo", strs(&repo)), ("instance_id", strs(ids)), ("FAIL_TO_PASS", strs(f2p))];
        write_columns(path, &columns, Codec::Snappy).unwrap();
    };
    // Each run loads the dataset, then stops at an id it does not hold: the dataset was read.
    let pq = dir.path().join("verified.parquet");
    write(&pq, &["a__b-1", "a__b-2"], &["[\"t1\"]", "[]"]);
    let out = bin()
        .args(["eval", "--dataset", pq.to_str().unwrap(), "--predictions", "gold", "--instance-ids", "zz"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && stderr.contains("instance ids not in the dataset: zz"), "{stderr}");

    let snapshot = dir.path().join("hub/datasets--SWE-bench--SWE-bench_Lite/snapshots/abc/data");
    write(&snapshot.join("test-00000-of-00002.parquet"), &["a__b-1"], &["[]"]);
    write(&snapshot.join("test-00001-of-00002.parquet"), &["a__b-2"], &["[]"]);
    write(&snapshot.join("dev-00000-of-00001.parquet"), &["a__b-3"], &["[]"]);
    let out = bin()
        .env("HF_HOME", dir.path())
        .env("HF_HUB_CACHE", dir.path().join("hub"))
        .env("HF_DATASETS_CACHE", dir.path().join("none"))
        .env("HOME", dir.path())
        .args(["eval", "--split", "lite", "--predictions", "gold", "--instance-ids", "a__b-2,a__b-3"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("instance ids not in the dataset: a__b-3"),
        "the dev shard is not the test split: {stderr}"
    );

    write(&pq, &["a__b-1", "a__b-2"], &["[\"t1\"]", "t2"]);
    let out = bin().args(["eval", "--dataset", pq.to_str().unwrap(), "--predictions", "gold"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("verified.parquet: row 2: column `FAIL_TO_PASS`: test list is a string but not"),
        "{stderr}"
    );
}

/// SWE-bench's cache levels on one instance: `instance` keeps its images, `none` keeps only images that were there
/// before the run, `--clean` removes those too (down to the level), the default `env` removes the instance image
/// and keeps the environment; each run prints the image disk after the instance and at the end. The test uses its
/// own environment (environments/ copied, the bundled spec renamed), so its environment and instance images are
/// its own while other tests run; the base image is everyone's, so no step removes it (the first keeps it, the
/// later ones find it there before them, and none pairs `none` with `--clean`).
#[test]
fn eval_cache_levels_remove_images_as_swebench_does() {
    if skip() {
        return;
    }
    fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy_tree(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let env_dir = dir.path().join("environments");
    copy_tree(&root().join("environments"), &env_dir);
    let spec = env_dir.join("bundled-py311.toml");
    let text_of_spec = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("name = \"bundled-cache-test\"\n{text_of_spec}")).unwrap();

    let id = "srl-swe__datekit-1";
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sb = rt.block_on(srl_sandbox::Sandbox::connect()).unwrap();
    let builder = srl_sandbox::ImageBuilder::new(&sb, &root().join("docker"), &env_dir).unwrap();
    let dataset = srl_eval::load_source(&srl_eval::DatasetSource::Bundled, &root()).unwrap();
    let instance = dataset.iter().find(|i| i.instance_id == id).unwrap();
    let spec = builder.spec_for(&instance.repo, &instance.version).unwrap();
    assert_eq!(spec.name, "bundled-cache-test");
    let (inst, env) = (builder.instance_image(instance).unwrap(), builder.env_image(spec).unwrap());
    let base = builder.base_image_for(spec).unwrap();
    let held = || {
        let names = rt.block_on(sb.image_names()).unwrap();
        [&inst, &env, &base].map(|n| names.contains(n.as_str()))
    };
    // Leftovers of an earlier run of this test go first.
    for image in [&inst, &env] {
        rt.block_on(sb.remove_image(image)).unwrap();
    }

    let report_dir = dir.path().join("logs");
    let run = |run_id: &str, extra: &[&str]| {
        let args = ["eval", "--split", "bundled", "--predictions", "gold", "--instance-ids", id, "--run-id", run_id];
        let paths = ["--env-dir", env_dir.to_str().unwrap(), "--report-dir", report_dir.to_str().unwrap()];
        let out = bin().env_remove("SRL_CACHE_LEVEL").args([&args[..], &paths, extra].concat()).output().unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{run_id}: {stdout}\nstderr: {}", text(&out.stderr));
        stdout
    };
    let removed = |stdout: &str, level: &str, what: &str| {
        assert!(stdout.contains(&format!("cache level {level}: {what}")), "{stdout}");
    };

    // instance: everything stays; the disk after the instance (a line of its own without a terminal) and at the end.
    let out = run("keep", &["--cache-level", "instance"]);
    assert!(out.contains("resolve rate: 1/7"), "{out}");
    assert!(out.contains(&format!("{id}: resolved | image disk ")), "{out}");
    assert!(out.contains("image disk at the start: "), "{out}");
    let end = out.lines().find(|l| l.starts_with("image disk (")).unwrap_or_else(|| panic!("{out}"));
    assert!(end.contains(" at the end, ") && end.contains(" at most, ") && end.contains(" at the start"), "{end}");
    assert!(end.contains("B in "), "{end}");
    removed(&out, "instance", "removed no image");
    assert_eq!(held(), [true; 3], "instance keeps the instance, environment and base images");

    // none without --clean: the images were there before the run, so they stay.
    let out = run("earlier", &["--cache-level", "none"]);
    removed(&out, "none", "removed no image");
    assert_eq!(held(), [true; 3]);

    // base with --clean: the earlier instance and environment images go, the base stays.
    let out = run("clean", &["--cache-level", "base", "--clean"]);
    removed(&out, "base", &format!("removed 2 images ({inst}, {env})"));
    assert_eq!(held(), [false, false, true]);

    // none: the run makes the environment and instance images and removes them; the earlier base stays.
    let out = run("none", &["--cache-level", "none"]);
    removed(&out, "none", &format!("removed 2 images ({inst}, {env})"));
    assert_eq!(held(), [false, false, true]);

    // The default, env: the instance image goes after its instance, the environment stays.
    let out = run("default", &[]);
    assert!(out.contains("resolve rate: 1/7"), "{out}");
    removed(&out, "env", &format!("removed 1 image ({inst})"));
    assert_eq!(held(), [false, true, true]);

    // A run that grades nothing still sweeps at the end: --clean takes the environment made before it.
    let args = ["eval", "--split", "bundled", "--predictions", "empty", "--instance-ids", id, "--run-id", "sweep"];
    let paths = ["--env-dir", env_dir.to_str().unwrap(), "--report-dir", report_dir.to_str().unwrap()];
    let out = bin().args([&args[..], &paths, &["--cache-level", "base", "--clean"]].concat()).output().unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    removed(&text(&out.stdout), "base", &format!("removed 1 image ({env})"));
    assert_eq!(held(), [false, false, true]);
}
