//! report.json, extras, the run layout, resume and the summary.

use std::collections::BTreeMap;
use std::path::Path;

use srl_eval::layout::InstanceFiles;
use srl_eval::{
    ErrorKind, GoldTests, GradingConfig, InstanceExtras, InstanceReport, LogParser, Markers, ResolvedStatus, RunLayout,
    RunSummary, grade_log,
};

const REAL: &str = "trajectories/mini-swe-agent/eval_logs/django__django-11099/report.json";

fn real_report_text() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(REAL);
    std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!("{}: {e} (the project's shared reference data, ../shared/data/README.md)", p.display())
    })
}

#[test]
fn real_report_round_trips_with_the_same_keys() {
    let text = real_report_text();
    let (id, report) = InstanceReport::from_json(&text).unwrap();
    assert_eq!(id, "django__django-11099");
    assert!(report.resolved && report.patch_exists && report.patch_successfully_applied && !report.patch_is_none);
    let tests = report.tests_status.as_ref().unwrap();
    assert_eq!((tests.fail_to_pass.success.len(), tests.pass_to_pass.success.len()), (3, 19));
    assert_eq!(tests.resolution(), ResolvedStatus::Full);
    let again = report.to_json(&id);
    // Same JSON value, and the same text (SWE-bench writes json.dump(indent=4), keys in this order).
    let a: serde_json::Value = serde_json::from_str(&text).unwrap();
    let b: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(a, b);
    assert_eq!(again.trim_end(), text.trim_end());
}

#[test]
fn grading_reproduces_the_real_report() {
    // The real report's tests, replayed through a Django log built from them.
    let (id, real) = InstanceReport::from_json(&real_report_text()).unwrap();
    let tests = real.tests_status.clone().unwrap();
    let mut body = String::new();
    for t in tests.fail_to_pass.success.iter().chain(&tests.pass_to_pass.success) {
        body.push_str(&format!("{t} ... ok\n"));
    }
    let log = format!(">>>>> Start Test Output\n{body}>>>>> End Test Output\n>>>>> Test Exit Code: 0\n");
    let gold = GoldTests {
        fail_to_pass: tests.fail_to_pass.success.clone(),
        pass_to_pass: tests.pass_to_pass.success.clone(),
        ..GoldTests::default()
    };
    let out = grade_log(&log, LogParser::Django, &gold, &Markers::default(), &GradingConfig::default());
    assert_eq!(out.to_report().to_json(&id), real.to_json(&id));
}

#[test]
fn patch_none_report_has_no_tests_status() {
    let r = InstanceReport { patch_is_none: true, ..InstanceReport::default() };
    let v: serde_json::Value = serde_json::from_str(&r.to_json("x")).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"x": {"patch_is_None": true, "patch_exists": false,
            "patch_successfully_applied": false, "resolved": false}})
    );
}

#[test]
fn layout_writes_atomically_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let layout = RunLayout::new(dir.path(), "run1");
    let model = "org/model-7b";
    assert_eq!(layout.instance_dir(model, "a__b-1"), dir.path().join("run1/org__model-7b/a__b-1"));
    assert!(!layout.is_graded(model, "a__b-1"));
    let (_, report) = InstanceReport::from_json(&real_report_text()).unwrap();
    let extras = InstanceExtras {
        instance_id: "a__b-1".into(),
        patch_method: Some("git apply --verbose".into()),
        test_exit_code: Some(0),
        duration_s: Some(12.5),
        resolution: Some(ResolvedStatus::Full),
        ..InstanceExtras::default()
    };
    let files = InstanceFiles {
        patch: Some("diff --git a/x b/x\n"),
        eval_script: Some("#!/bin/bash\n"),
        test_output: Some("log"),
        report: Some(&report),
        extras: Some(&extras),
    };
    let inst_dir = layout.write_instance(model, "a__b-1", &files).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&inst_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["eval.sh", "patch.diff", "report.json", "srl_extras.json", "test_output.txt"], "no temp files");
    assert!(layout.is_graded(model, "a__b-1"));
    assert_eq!(layout.read_report(model, "a__b-1").unwrap(), report);
    let x: InstanceExtras =
        serde_json::from_str(&std::fs::read_to_string(inst_dir.join("srl_extras.json")).unwrap()).unwrap();
    assert_eq!(x, extras);
    // Rewriting is idempotent.
    layout.write_instance(model, "a__b-1", &files).unwrap();
    assert!(layout.is_graded(model, "a__b-1"));
    // A torn or foreign report does not count as graded.
    let other = layout.report_path(model, "c__d-2");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::write(&other, "{\"c__d-2\": {\"patch_is_N").unwrap();
    assert!(!layout.is_graded(model, "c__d-2"));
    std::fs::write(&other, report.to_json("a__b-1")).unwrap();
    assert!(!layout.is_graded(model, "c__d-2"));
}

#[test]
fn extras_serialise_error_kinds() {
    let x = InstanceExtras {
        instance_id: "i".into(),
        error: Some(ErrorKind::ImageBuildFailed),
        log_error: Some(srl_eval::LogError::ExitCodeMismatch(2)),
        ..InstanceExtras::default()
    };
    let v = serde_json::to_value(&x).unwrap();
    assert_eq!(v["error"], "image_build_failed");
    assert_eq!(v["log_error"], serde_json::json!({"exit_code_mismatch": 2}));
    for (k, s) in [(ErrorKind::Timeout, "timeout"), (ErrorKind::PatchFailed, "patch_failed")] {
        assert_eq!(serde_json::to_value(k).unwrap(), s);
    }
}

#[test]
fn summary_counts_like_swebench() {
    let dataset = ["a", "b", "c", "d", "e", "f"];
    let submitted = [("a", false), ("b", false), ("c", true), ("d", false), ("a", false)];
    let mut reports = BTreeMap::new();
    reports.insert("a".to_string(), InstanceReport { resolved: true, patch_exists: true, ..Default::default() });
    reports.insert("b".to_string(), InstanceReport { patch_exists: true, ..Default::default() });
    let s = RunSummary::build(dataset, submitted, &reports);
    assert_eq!((s.total_instances, s.submitted_instances, s.completed_instances, s.resolved_instances), (6, 4, 2, 1));
    assert_eq!((s.unresolved_instances, s.empty_patch_instances, s.error_instances), (1, 1, 1));
    assert_eq!((s.resolved_ids.clone(), s.unresolved_ids.clone()), (vec!["a".to_string()], vec!["b".to_string()]));
    assert_eq!((s.empty_patch_ids.clone(), s.error_ids.clone()), (vec!["c".to_string()], vec!["d".to_string()]));
    assert_eq!(s.incomplete_ids, ["e", "f"]);
    assert!((s.resolve_rate - 1.0 / 6.0).abs() < 1e-12);
    let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    for k in [
        "total_instances",
        "submitted_instances",
        "completed_instances",
        "resolved_instances",
        "unresolved_instances",
        "empty_patch_instances",
        "error_instances",
        "resolved_ids",
        "unresolved_ids",
        "empty_patch_ids",
        "error_ids",
        "resolve_rate",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = RunLayout::new(dir.path(), "r");
    let p = layout.write_summary(&s).unwrap();
    assert_eq!(p, dir.path().join("r/summary.json"));
    let back: RunSummary = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn plan_resume_and_summary_from_disk() {
    use srl_core::Instance;
    use srl_eval::{Prediction, plan_run, report_for, summarize_run};
    let inst = |id: &str| Instance { instance_id: id.into(), ..Instance::default() };
    let instances = vec![inst("a"), inst("b"), inst("c"), inst("d")];
    let pred = |id: &str, patch: Option<&str>| Prediction {
        instance_id: id.into(),
        model_name_or_path: "org/m".into(),
        model_patch: patch.map(str::to_string),
    };
    let preds = vec![pred("a", Some("diff")), pred("b", Some("diff")), pred("c", Some(" \n")), pred("zz", Some("d"))];
    let dir = tempfile::tempdir().unwrap();
    let layout = RunLayout::new(dir.path(), "run");
    let plan = plan_run(&instances, &preds, &layout, false).unwrap();
    let ids = |v: &[(Instance, Prediction)]| v.iter().map(|(i, _)| i.instance_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&plan.to_run), ["a", "b"]);
    assert_eq!((plan.empty_patch.clone(), plan.unknown.clone()), (vec!["c".to_string()], vec!["zz".to_string()]));

    // "a" is graded (resolved); "b" failed in its container: no report.
    let log = ">>>>> Start Test Output\nt ... ok\n>>>>> End Test Output\n>>>>> Test Exit Code: 0\n";
    let gold = GoldTests { fail_to_pass: vec!["t".into()], ..GoldTests::default() };
    let out = grade_log(log, LogParser::Django, &gold, &Markers::default(), &GradingConfig::default());
    let report = report_for(&preds[0], Some(&out)).unwrap();
    assert!(report.resolved);
    layout.write_instance("org/m", "a", &InstanceFiles { report: Some(&report), ..Default::default() }).unwrap();
    assert_eq!(report_for(&preds[1], None), None);
    assert!(report_for(&pred("x", None), None).unwrap().patch_is_none);

    let plan = plan_run(&instances, &preds, &layout, false).unwrap();
    assert_eq!((ids(&plan.to_run), plan.already_graded.clone()), (vec!["b".to_string()], vec!["a".to_string()]));
    assert_eq!(ids(&plan_run(&instances, &preds, &layout, true).unwrap().to_run), ["a", "b"]);
    let dup = [pred("a", Some("x")), pred("a", Some("y"))];
    assert!(plan_run(&instances, &dup, &layout, false).unwrap_err().to_string().contains("two predictions for a"));

    let s = summarize_run(&instances, &preds[..3], &layout);
    assert_eq!((s.total_instances, s.submitted_instances, s.resolved_instances), (4, 3, 1));
    assert_eq!((s.error_ids.clone(), s.empty_patch_ids.clone()), (vec!["b".to_string()], vec!["c".to_string()]));
    assert_eq!(s.incomplete_ids, ["d"]);
}
