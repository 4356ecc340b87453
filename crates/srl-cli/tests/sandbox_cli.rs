//! `srl-swe sandbox ...` as a user runs it, against the real Docker daemon (images are built on first use and
//! cached). Docker tests never pass by skipping: set SRL_SKIP_DOCKER=1 to leave them out on a machine without one.

use std::process::Output;

use common::{root, skip_docker as skip, srl, text};

mod common;

fn sandbox(args: &[&str]) -> Output {
    srl(&[&["sandbox"], args].concat())
}

#[test]
fn run_passes_output_and_exit_code_through() {
    if skip() {
        return;
    }
    let out = sandbox(&[
        "run",
        "--task",
        "srl-swe__datekit-1",
        "--",
        "cd /testbed && git status --short; echo hello; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "hello", "a clean testbed, then the command's output");

    let out = sandbox(&["run", "--task", "srl-swe__datekit-1", "--timeout", "2", "--", "sleep 30"]);
    assert_eq!(out.status.code(), Some(124), "a timeout exits 124: {}", text(&out.stderr));

    let out = sandbox(&["run", "--task", "srl-swe__nope-1", "--", "true"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("srl-swe__nope-1"), "{}", text(&out.stderr));
}

#[test]
fn record_reproduces_the_shipped_trajectory() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("datekit.json");
    let out = sandbox(&["record", "tasks/datekit/solution.json", "--output", out_path.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let fmt = srl_data::Format::Auto;
    let fresh = srl_data::read_path(&out_path, fmt).unwrap().pop().unwrap();
    let shipped = srl_data::read_path(&root().join("tasks/datekit/trajectory.json"), fmt).unwrap().pop().unwrap();
    let solution = srl_data::read_path(&root().join("tasks/datekit/solution.json"), fmt).unwrap().pop().unwrap();
    assert_eq!(fresh.steps.len(), solution.steps.len());
    for (a, b) in fresh.steps.iter().zip(&solution.steps) {
        assert_eq!(a.action, b.action, "the recorded actions are the script's");
    }
    // Same final patch as the shipped recording, and every observation but pytest's timings identical.
    assert_eq!(fresh.patch, shipped.patch);
    assert!(fresh.patch.as_deref().is_some_and(|p| p.contains("diff --git")));
    let same = fresh.steps.iter().zip(&shipped.steps).filter(|(a, b)| a.observation == b.observation).count();
    assert!(same + 3 >= fresh.steps.len(), "{same} of {} observations identical", fresh.steps.len());
}

#[test]
fn gc_runs() {
    if skip() {
        return;
    }
    let out = sandbox(&["gc"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
}
