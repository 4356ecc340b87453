//! `srl-swe train` with an RLVR stage, as a user runs it: SRL on the bundled trajectories, then RLVR episodes of the
//! tiny model in real Docker containers on the bundled tasks, graded by the evaluator; resumed across the stage
//! boundary. Set SRL_SKIP_DOCKER=1 to leave it out on a machine without Docker.

use std::path::Path;

use common::{lines, skip_docker as skip, srl, text};

mod common;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn a_curriculum_runs_rlvr_episodes_in_docker_and_resumes_across_the_stage_boundary() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    let run = dir.path().join("a");
    let sets = [
        format!("model.path={}", model.display()),
        r#"stages=[{kind = "srl", steps = 2}, {kind = "rlvr", steps = 1}]"#.to_string(),
        "sft.warmup_steps=1".into(),
        "grpo.prompts_per_batch=1".into(),
        "grpo.group_size=2".into(),
        "sampling.max_new_tokens=16".into(),
        "validation.every=3".into(),
        "validation.max_examples=1".into(),
        "rlvr.valid_episodes=1".into(),
        "rlvr.max_turns=2".into(),
        "checkpoint.every=2".into(),
        "logging.plots=false".into(),
    ];
    let mut args = vec!["train", "--config", "configs/curriculum-tiny.toml", "--out", run.to_str().unwrap()];
    for s in &sets {
        args.extend(["--set", s]);
    }
    let out = srl(&args);
    assert!(out.status.success(), "train: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("RLVR: 6 training task(s), 1 held out"), "{stderr}");
    let metrics = lines(&run.join("metrics.jsonl"));
    let phases: Vec<(u64, &str)> =
        metrics.iter().map(|m| (m["stage"].as_u64().unwrap(), m["phase"].as_str().unwrap())).collect();
    assert_eq!(phases, [(0, "sft"), (0, "grpo"), (1, "rlvr")]);
    let rlvr = &metrics[2]["rlvr"];
    assert_eq!(rlvr["episodes"].as_u64().unwrap() % 2, 0, "groups of two episodes: {rlvr}");
    assert!(rlvr["rollout_s"].as_f64().unwrap() > 0.0, "{rlvr}");
    let valid = &metrics[2]["valid"];
    assert_eq!(valid["examples"], 1, "{valid}");
    assert!(valid["resolve_rate"].is_number(), "{valid}");
    // Every episode ran in a container of a bundled task and was scored (or said why it was masked).
    let rollouts = lines(&run.join("rollouts.jsonl"));
    assert_eq!(rollouts.len() as u64, rlvr["episodes"].as_u64().unwrap() + 1);
    for r in &rollouts {
        let id = r["instance_id"].as_str().unwrap();
        assert!(id.starts_with("srl-swe__"), "{r}");
        assert_eq!(r["split"] == "valid", id == "srl-swe__wordstat-1", "{r}");
        let exit = r["exit"].as_str().unwrap();
        assert!(["submitted", "step_limit", "format_errors"].iter().any(|e| exit.starts_with(e)), "{r}");
        assert!(r["reward"].is_number(), "{r}");
        assert!(r["episode_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert!(run.join("final/model").is_dir());

    // Resume from the checkpoint at the stage boundary (step 2): step 3 again, the same as the uninterrupted run.
    let resumed = dir.path().join("b");
    copy_dir(&run, &resumed);
    std::fs::remove_dir_all(resumed.join("checkpoints/step-00000003")).unwrap();
    std::fs::remove_dir_all(resumed.join("final")).unwrap();
    std::fs::write(resumed.join("checkpoints/latest"), "step-00000002").unwrap();
    let out = srl(&["train", "--resume", "--out", resumed.to_str().unwrap()]);
    assert!(out.status.success(), "resume: {}", text(&out.stderr));
    let weights = |d: &Path| std::fs::read(d.join("checkpoints/step-00000003/trainable.safetensors")).unwrap();
    assert!(weights(&run) == weights(&resumed), "the resumed step 3 equals the uninterrupted one");
    let again = lines(&resumed.join("rollouts.jsonl"));
    assert_eq!(again.len(), rollouts.len(), "episodes after the checkpoint are replaced, not appended");
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        for k in ["episode_s", "grade_s"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(again.iter().map(strip).collect::<Vec<_>>(), rollouts.iter().map(strip).collect::<Vec<_>>());
}

#[test]
fn rlvr_takes_its_tasks_from_a_swe_bench_dataset_file() {
    if skip() {
        return;
    }
    // tasks/bundled.jsonl is a SWE-bench-schema file: loaded as a dataset, its images built as `eval` builds them.
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let model = format!("model.path={}", dir.path().join("tiny").display());
    let mut args = vec!["train", "--config", "configs/curriculum-tiny.toml", "--out", run.to_str().unwrap()];
    for s in [
        model.as_str(),
        r#"stages=[{kind = "rlvr", steps = 1}]"#,
        "rlvr.tasks=tasks/bundled.jsonl",
        r#"rlvr.instance_ids=["srl-swe__exprcalc-1"]"#,
        "rlvr.holdout_ids=[]",
        "rlvr.max_turns=1",
        "grpo.prompts_per_batch=1",
        "grpo.group_size=2",
        "grpo.max_sampling_rounds=1",
        "sampling.max_new_tokens=8",
        "validation.every=0",
        "logging.plots=false",
    ] {
        args.extend(["--set", s]);
    }
    let out = srl(&args);
    assert!(out.status.success(), "train: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("RLVR: 1 training task(s), 0 held out"), "{}", text(&out.stderr));
    let rollouts = lines(&run.join("rollouts.jsonl"));
    assert_eq!(rollouts.len(), 2);
    assert!(rollouts.iter().all(|r| r["instance_id"] == "srl-swe__exprcalc-1" && r["split"] == "train"));
}
