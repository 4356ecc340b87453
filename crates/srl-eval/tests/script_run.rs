//! The eval script run for real (bash + git, no container) on a tiny repository, then graded: checks the script's
//! structure end to end (reset, test patch, markers, exit code, final reset).

use std::path::Path;
use std::process::Command;

use srl_core::Instance;
use srl_eval::{
    EnvFacts, EvalScriptConfig, GoldTests, GradingConfig, LogParser, Markers, ResolvedStatus, build_eval_script,
    grade_log,
};

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", dir.join("../gitconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn eval_script_runs_and_grades() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("testbed");
    std::fs::create_dir_all(repo.join("tests")).unwrap();
    std::fs::write(repo.join("run.sh"), "rc=0\nfor f in \"$@\"; do bash \"$f\" || rc=1; done\nexit $rc\n").unwrap();
    std::fs::write(
        repo.join("tests/check.sh"),
        "echo 'FAILED tests/check.sh::t1 - old'\necho 'PASSED tests/check.sh::t0'\nexit 1\n",
    )
    .unwrap();
    let base = sh(
        &repo,
        "git init -q . && git -c user.name=t -c user.email=t@t add -A && \
         git -c user.name=t -c user.email=t@t commit -qm base && git rev-parse HEAD",
    );
    let base = base.trim().to_string();
    // The test patch: t1 now passes, t2 fails, and a new test file with a data file beside it.
    std::fs::write(
        repo.join("tests/check.sh"),
        "echo 'PASSED tests/check.sh::t1'\necho 'PASSED tests/check.sh::t0'\necho 'FAILED tests/check.sh::t2 - boom'\nexit 1\n",
    )
    .unwrap();
    std::fs::write(repo.join("tests/new.sh"), "echo 'PASSED tests/new.sh::n1'\n").unwrap();
    std::fs::write(repo.join("tests/data.txt"), "data\n").unwrap();
    let test_patch = sh(&repo, "git add -A && git diff --cached && git reset -q --hard && git clean -qfd");
    assert!(test_patch.contains("diff --git a/tests/new.sh b/tests/new.sh"));

    let instance = Instance {
        instance_id: "local__toy-1".into(),
        repo: "local/toy".into(),
        base_commit: base.clone(),
        test_patch,
        ..Instance::default()
    };
    let env = EnvFacts { test_cmd: vec!["bash run.sh".into()], ..EnvFacts::default() };
    let cfg = EvalScriptConfig { repo_dir: repo.display().to_string(), conda_env: None, ..EvalScriptConfig::default() };
    let script = build_eval_script(&instance, &env, &Markers::default(), &cfg);
    assert!(script.contains("bash run.sh tests/check.sh tests/new.sh\n"), "{script}");
    std::fs::write(tmp.path().join("eval.sh"), &script).unwrap();
    let out = Command::new("bash")
        .arg(tmp.path().join("eval.sh"))
        .current_dir(&repo)
        .env("GIT_CONFIG_GLOBAL", tmp.path().join("gitconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    // Merged stdout + stderr, as the run loop must capture it.
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(log.contains(">>>>> Test Exit Code: 1"), "{log}");

    let gold = GoldTests {
        fail_to_pass: vec!["tests/check.sh::t1".into(), "tests/new.sh::n1".into()],
        pass_to_pass: vec!["tests/check.sh::t0".into()],
        ..GoldTests::default()
    };
    let graded = grade_log(&log, LogParser::Pytest, &gold, &Markers::default(), &GradingConfig::default());
    assert_eq!(graded.exit_code, Some(1));
    assert_eq!(graded.log_error, None, "{log}");
    assert_eq!(graded.resolution, ResolvedStatus::Full);
    assert_eq!(graded.status_map.get("tests/check.sh::t2"), Some(&srl_eval::TestStatus::Failed));
    // The modified test file is back at the base commit; new files of the test patch stay (as in SWE-bench).
    assert_eq!(sh(&repo, "git status --porcelain"), "?? tests/data.txt\n?? tests/new.sh\n");
}
