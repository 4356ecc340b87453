//! The loop in real containers (skipped with SRL_SKIP_DOCKER=1): scripted experts solve every bundled task
//! (graded in a fresh container: FAIL_TO_PASS and PASS_TO_PASS pass), the oracle mode, and (with the `candle`
//! feature) the tiny random candle model driving a few turns; a benchmark run (episodes, files, grading) resumes.

mod common;

use std::time::Instant;

use common::{builder, images, recorded, sandbox, task_name, tasks};
use srl_agent::{
    Agent, AgentConfig, BenchLayout, BenchOptions, ExitReason, Mode, ScriptedPolicy, StepEvent, run_bench, run_episode,
};
use srl_core::{ActionKind, Instance};
use srl_eval::{Harness, HarnessOptions, Prediction, RunLayout};
use srl_sandbox::{Container, ContainerOptions, Sandbox};

async fn start(sb: &Sandbox, inst: &Instance, image: &str) -> Container {
    let opts = ContainerOptions { instance_id: Some(inst.instance_id.clone()), ..Default::default() };
    Container::start(sb, image, &opts).await.unwrap()
}

/// Grades `patch` with the evaluator (a fresh container, the test patch, the environment's test command, the
/// log parsed and graded as SWE-bench does): every FAIL_TO_PASS and PASS_TO_PASS test must pass.
async fn grade(sb: &Sandbox, inst: &Instance, patch: &str) {
    let h = Harness::new(sb.clone(), builder(sb), tasks(), HarnessOptions::default());
    let prediction = Prediction {
        instance_id: inst.instance_id.clone(),
        model_name_or_path: "scripted".into(),
        model_patch: Some(patch.into()),
    };
    let ev = h.evaluate(inst, &prediction).await;
    let r = ev.report.as_ref().unwrap_or_else(|| panic!("{}: not graded: {:?}", inst.instance_id, ev.extras));
    let ts = r.tests_status.as_ref().unwrap();
    assert!(ts.fail_to_pass.failure.is_empty(), "{}: {:?}", inst.instance_id, ts.fail_to_pass.failure);
    assert!(ts.pass_to_pass.failure.is_empty(), "{}: {:?}", inst.instance_id, ts.pass_to_pass.failure);
    assert_eq!(ts.fail_to_pass.success.len(), inst.fail_to_pass.len(), "{}", inst.instance_id);
    assert_eq!(ts.pass_to_pass.success.len(), inst.pass_to_pass.len(), "{}", inst.instance_id);
    assert!(r.resolved, "{}", inst.instance_id);
}

async fn solve_with_the_script(sb: &Sandbox, inst: &Instance, image: &str) {
    let t = Instant::now();
    let expert = recorded(inst);
    let policy = ScriptedPolicy::new("scripted", [expert.clone()]);
    let c = start(sb, inst, image).await;
    let mut actions = Vec::new();
    let ep = run_episode(&policy, &c, inst, &AgentConfig::default(), &mut |e| {
        if let StepEvent::Action { step, .. } = e {
            actions.push(step.action.clone());
        }
    })
    .await
    .unwrap();
    c.remove().await.unwrap();
    assert_eq!(ep.exit, ExitReason::Submitted, "{}", inst.instance_id);
    assert_eq!(ep.format_errors, 0);
    assert_eq!(actions, expert.steps.iter().map(|s| s.action.clone()).collect::<Vec<_>>());
    let patch = ep.patch.as_deref().unwrap();
    assert_eq!(
        Some(patch),
        expert.patch.as_deref(),
        "{}: the submitted patch differs from the recorded one",
        inst.instance_id
    );
    assert_eq!(ep.trajectory.patch.as_deref(), Some(patch));
    grade(sb, inst, patch).await;
    eprintln!("{}: {} steps, solved and graded in {:.1?}", inst.instance_id, ep.steps, t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_experts_solve_every_bundled_task() {
    let Some(sb) = sandbox().await else { return };
    let imgs = images(&sb).await;
    assert_eq!(imgs.len(), 7);
    // Two tasks at a time.
    for pair in imgs.chunks(2) {
        let runs = pair.iter().map(|(inst, image)| solve_with_the_script(&sb, inst, image));
        futures_util::future::join_all(runs).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_mode_solves_with_str_replace_edits_only() {
    let Some(sb) = sandbox().await else { return };
    let imgs = images(&sb).await;
    let (inst, image) = imgs.iter().find(|(i, _)| task_name(i) == "confparse").unwrap();
    let mut expert = recorded(inst);
    // Everything but the expert's edits (and its submit) is refused in this mode: keep those.
    expert.steps.retain(|s| matches!(s.action.kind(), ActionKind::StrReplace | ActionKind::Submit));
    assert!(expert.steps.len() >= 2);
    let policy = ScriptedPolicy::new("scripted", [expert.clone()]);
    let c = start(&sb, inst, image).await;
    let cfg = AgentConfig { mode: Mode::OracleEdit, ..Default::default() };
    let ep = run_episode(&policy, &c, inst, &cfg, &mut |_| {}).await.unwrap();
    c.remove().await.unwrap();
    assert_eq!(ep.exit, ExitReason::Submitted);
    let original = std::fs::read_to_string(common::root().join("tasks/confparse/repo/confparse/parser.py")).unwrap();
    assert!(ep.trajectory.task.contains(&format!("<file path=\"/testbed/confparse/parser.py\">\n{original}")));
    assert_eq!(ep.patch.as_deref().unwrap(), inst.patch);
    grade(&sb, inst, ep.patch.as_deref().unwrap()).await;
}

#[cfg(feature = "candle")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_random_model_runs_the_loop() {
    let Some(sb) = sandbox().await else { return };
    let imgs = images(&sb).await;
    let (inst, image) = &imgs[0];
    let dir = tempfile::tempdir().unwrap();
    srl_policy::init_model_dir(dir.path(), srl_policy::Preset::Tiny, 7).unwrap();
    let sampling = srl_core::SamplingParams { temperature: 1.0, ..srl_core::SamplingParams::greedy(48) };
    let opts = srl_agent::PolicyBuildOptions { sampling, seed: 3, ..Default::default() };
    let policy = srl_agent::build_policy(dir.path().to_str().unwrap(), &opts).unwrap();
    assert_eq!(policy.model_name(), dir.path().to_str().unwrap());
    let c = start(&sb, inst, image).await;
    let cfg = AgentConfig { max_steps: 4, max_format_errors: 4, ..Default::default() };
    let mut completions = 0;
    let ep = run_episode(&*policy, &c, inst, &cfg, &mut |e| {
        if let StepEvent::Completion { .. } = e {
            completions += 1;
        }
    })
    .await
    .unwrap();
    c.remove().await.unwrap();
    // Whatever it wrote: the loop ended by a rule, every call was counted with real token numbers.
    assert!(
        matches!(ep.exit, ExitReason::FormatErrors | ExitReason::StepLimit | ExitReason::Submitted),
        "{:?}",
        ep.exit
    );
    assert!((1..=4).contains(&ep.steps) && completions == ep.steps, "{} {completions}", ep.steps);
    assert!(!ep.tokens.estimated && ep.tokens.completion > 0 && ep.tokens.completion <= 48 * ep.steps as u64);
    assert!(ep.patch.is_some());
    eprintln!("tiny model: {} ({} calls, {} tokens)", ep.exit, ep.steps, ep.tokens.total());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bench_run_writes_episodes_grades_them_and_resumes() {
    let Some(sb) = sandbox().await else { return };
    images(&sb).await;
    let all = tasks().instances;
    let picked: Vec<Instance> =
        all.iter().filter(|i| ["datekit", "wordstat"].contains(&task_name(i))).cloned().collect();
    assert_eq!(picked.len(), 2);
    let policy = ScriptedPolicy::new("org/scripted", [recorded(&picked[0])]);
    let h = Harness::new(sb.clone(), builder(&sb), tasks(), HarnessOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let layout = BenchLayout::new(RunLayout::new(dir.path(), "bench"));
    let cfg = AgentConfig { max_steps: 30, ..Default::default() };
    let agent = Agent { policy: &policy, config: &cfg };
    let opts = BenchOptions { max_workers: 2, rerun: false };
    let mut lines = Vec::new();
    let run = run_bench(&h, agent, &all, &picked, &layout, &opts, &mut |e| lines.push((e.to_string(), e.resolved)))
        .await
        .unwrap();
    lines.sort();
    let (first, second) = (&picked[0].instance_id, &picked[1].instance_id);
    // The script knows the first task: it is solved; the second gets a policy error at once and no patch.
    let solved = lines.iter().find(|(l, _)| l.starts_with(&format!("{first}: submitted after "))).unwrap();
    assert!(solved.0.ends_with("; resolved") && solved.1, "{lines:?}");
    let failed = lines.iter().find(|(l, _)| l.starts_with(&format!("{second}: policy_error after 0 calls"))).unwrap();
    assert!(failed.0.ends_with("patch of 0 bytes; empty patch: not graded") && !failed.1, "{lines:?}");
    let ids: Vec<&str> = run.predictions.iter().map(|p| p.instance_id.as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()], "instance order");
    assert_eq!(run.predictions_path, dir.path().join("bench/predictions.jsonl"));
    assert_eq!(std::fs::read_to_string(&run.predictions_path).unwrap().lines().count(), 2);
    assert_eq!((run.summary.resolved_instances, run.summary.total_instances), (1, all.len()));
    assert_eq!(run.summary_path, dir.path().join("bench/summary.json"));
    for inst in &picked {
        let d = layout.instance_dir("org/scripted", &inst.instance_id);
        for f in [BenchLayout::TRAJECTORY_FILE, BenchLayout::EPISODE_FILE, BenchLayout::PREDICTION_FILE] {
            assert!(d.join(f).is_file(), "{f} missing in {}", d.display());
        }
    }
    // Again: neither the episodes nor the grading run twice.
    let mut again = Vec::new();
    run_bench(&h, agent, &all, &picked, &layout, &opts, &mut |e| again.push(e.to_string())).await.unwrap();
    again.sort();
    assert!(again.contains(&format!("{first}: episode done earlier; resolved (graded earlier)")), "{again:?}");
    assert!(again.contains(&format!("{second}: episode done earlier; empty patch: not graded")), "{again:?}");
}
