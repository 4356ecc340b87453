//! The loop against a fake environment (no Docker): prompts equal the training examples, exits, format errors,
//! the recorded trajectory's round trip through srl-data, the oracle mode.

mod common;

use std::time::Duration;

use common::{BASH_LS, Canned, FakeEnv, Recording, SUBMIT, recorded, tasks};
use srl_agent::{
    AgentConfig, BenchLayout, Episode, ExitReason, Mode, ScriptedPolicy, StepEvent, TokenUsage, TrajectoryFormat,
    run_episode_in, write_episode,
};
use srl_core::{Instance, PromptConfig, ToolCall, Window};

fn instance(id: &str) -> Instance {
    Instance {
        instance_id: id.into(),
        problem_statement: "Fix the bug.".into(),
        base_commit: "abc".into(),
        ..Default::default()
    }
}

async fn run(policy: &dyn srl_agent::AgentPolicy, env: &FakeEnv, inst: &Instance, cfg: &AgentConfig) -> Episode {
    run_episode_in(policy, env, inst, cfg, &mut |_| {}).await.unwrap()
}

#[tokio::test]
async fn prompts_are_byte_identical_to_the_step_examples() {
    // For every bundled task and two windows: replaying the recorded trajectory, the agent asks the policy with
    // exactly the messages srl_data::steps builds for the same state.
    let prefilled = PromptConfig { window: Window::All, prefill: "<think>\n".into(), ..Default::default() };
    for prompt in [PromptConfig::default(), prefilled] {
        for inst in &tasks().instances {
            let expert = recorded(inst);
            let env = FakeEnv::replaying(&expert);
            let policy = Recording::new(ScriptedPolicy::new("scripted", [expert.clone()]));
            let cfg = AgentConfig { prompt: prompt.clone(), ..Default::default() };
            let ep = run(&policy, &env, inst, &cfg).await;
            assert_eq!(ep.exit, ExitReason::Submitted, "{}", inst.instance_id);
            let examples = srl_data::trajectory_examples(&expert, &prompt);
            let prompts = policy.prompts();
            assert_eq!(prompts.len(), examples.len(), "{}", inst.instance_id);
            // Every request carries the prefill the trainer's prompts end with.
            assert!(policy.prefills.lock().unwrap().iter().all(|p| p == &prompt.prefill), "{}", inst.instance_id);
            for (k, (got, ex)) in prompts.iter().zip(&examples).enumerate() {
                assert!(
                    got == &ex.messages,
                    "{} step {k}: the agent's prompt differs from the step example",
                    inst.instance_id
                );
            }
            // The agent's own trajectory builds the same examples (the task text is the issue, steps identical).
            assert_eq!(ep.trajectory.steps, expert.steps, "{}", inst.instance_id);
            let again = srl_data::trajectory_examples(&ep.trajectory, &prompt);
            assert_eq!(
                again.iter().map(|e| &e.messages).collect::<Vec<_>>(),
                examples.iter().map(|e| &e.messages).collect::<Vec<_>>()
            );
            assert_eq!(ep.patch, expert.patch);
        }
    }
}

#[tokio::test]
async fn garbage_ends_by_the_format_error_rule_and_the_trajectory_reads_back() {
    let inst = instance("garbage-1");
    let env = FakeEnv::echo();
    let policy = Recording::new(Canned::new(&["I think I'll just chat.", "<think>ok</think> <function=bash>"]));
    let mut events = Vec::new();
    let ep =
        run_episode_in(&policy, &env, &inst, &AgentConfig::default(), &mut |e| events.push(e.clone())).await.unwrap();
    assert_eq!(ep.exit, ExitReason::FormatErrors);
    assert_eq!((ep.steps, ep.format_errors, ep.trajectory.steps.len()), (3, 3, 0));
    assert!(env.ran().is_empty());
    assert_eq!(ep.turns[0].format_error.as_deref(), Some("the completion does not start with `<think>`"));
    assert_eq!(ep.turns[1].format_error.as_deref(), Some("function `bash` is not closed by `</function>`"));
    // The policy sees its refused output and exactly what was wrong, once, in the next context.
    let prompts = policy.prompts();
    assert_eq!(prompts[0].len(), 2);
    assert_eq!(prompts[1].len(), 4);
    assert_eq!(prompts[1][2].content, "I think I'll just chat.");
    assert!(
        prompts[1][3]
            .content
            .starts_with("OBSERVATION:\nYour last output was not run: the completion does not start with `<think>`.\n")
    );
    assert_eq!(prompts[2].len(), 4, "only the last refused completion is shown");
    assert!(prompts[2][3].content.contains(ep.turns[1].format_error.as_deref().unwrap()));
    let n_errors = events.iter().filter(|e| matches!(e, StepEvent::FormatError { .. })).count();
    assert_eq!(n_errors, 3);
    assert!(matches!(events.last(), Some(StepEvent::Finished { exit: ExitReason::FormatErrors, .. })));
    // Autosubmission: the diff at the end is the patch.
    assert_eq!(ep.patch.as_deref(), Some("diff --git a/x b/x\n"));
    assert_eq!(ep.trajectory.exit_status.as_deref(), Some("format_errors"));
    assert_eq!(ep.trajectory.model.as_deref(), Some("canned"));

    let dir = tempfile::tempdir().unwrap();
    let canonical = dir.path().join("out/ep.jsonl");
    ep.write_trajectory(&canonical, TrajectoryFormat::Canonical).unwrap();
    let back = srl_data::import::read_path(&canonical, srl_data::Format::Auto).unwrap();
    assert_eq!(back.len(), 1);
    let mut want = ep.trajectory.clone();
    want.source = back[0].source.clone();
    assert_eq!(back[0], want);
    let xml = dir.path().join("ep.json");
    ep.write_trajectory(&xml, TrajectoryFormat::SweSmith).unwrap();
    let back = srl_data::import::read_path(&xml, srl_data::Format::Auto).unwrap();
    assert_eq!((back[0].instance_id.as_str(), back[0].task.as_str()), ("garbage-1", "Fix the bug."));
    assert!(back[0].steps.is_empty());
    // And the whole episode is JSON.
    let json = serde_json::to_string(&ep).unwrap();
    let ep2: Episode = serde_json::from_str(&json).unwrap();
    assert_eq!(ep2, ep);
    // The episode's files of a run (`eval --policy`, `rollout --out`): both read back.
    let run_dir = dir.path().join("run/garbage-1");
    write_episode(&ep, &run_dir).unwrap();
    let back =
        srl_data::import::read_path(&run_dir.join(BenchLayout::TRAJECTORY_FILE), srl_data::Format::Auto).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].steps, ep.trajectory.steps);
    let text = std::fs::read_to_string(run_dir.join(BenchLayout::EPISODE_FILE)).unwrap();
    assert_eq!(serde_json::from_str::<Episode>(&text).unwrap(), ep);
}

#[tokio::test]
async fn a_valid_call_resets_the_format_error_count_and_the_trajectory_holds_only_actions() {
    let inst = instance("mixed-1");
    let env = FakeEnv::echo();
    let policy = Recording::new(Canned::new(&["junk", "junk", BASH_LS, "junk", "junk", BASH_LS, SUBMIT]));
    let ep = run(&policy, &env, &inst, &AgentConfig::default()).await;
    assert_eq!(ep.exit, ExitReason::Submitted);
    assert_eq!((ep.steps, ep.format_errors), (7, 4));
    assert_eq!(ep.trajectory.steps.len(), 3);
    assert_eq!(ep.trajectory.steps[0].action, ToolCall::bash("ls"));
    assert_eq!(ep.trajectory.steps[0].observation, "ran bash");
    assert_eq!(ep.trajectory.steps[0].thought, "look");
    assert_eq!(ep.turns.iter().filter_map(|t| t.step_index).collect::<Vec<_>>(), [0, 1, 2]);
    // After a call runs, the context is the trained one again (no leftover retry round).
    let prompts = policy.prompts();
    assert_eq!(
        prompts[3],
        srl_core::render_prompt("Fix the bug.", &ep.trajectory.steps[..1], &PromptConfig::default())
    );
    assert_eq!(ep.patch.as_deref(), Some("diff --git a/x b/x\n"));
}

#[tokio::test]
async fn step_limit_token_and_time_budgets() {
    let inst = instance("limits-1");
    let env = FakeEnv::echo();
    let cfg = AgentConfig { max_steps: 4, ..Default::default() };
    let ep = run(&Canned::new(&[BASH_LS]), &env, &inst, &cfg).await;
    assert_eq!((ep.exit.clone(), ep.steps, ep.trajectory.steps.len()), (ExitReason::StepLimit, 4, 4));
    assert!(ep.tokens.estimated);

    let env = FakeEnv::echo();
    let mut p = Canned::new(&[BASH_LS]);
    p.usage = TokenUsage { prompt: Some(80), completion: Some(20) };
    let cfg = AgentConfig { max_total_tokens: Some(250), ..Default::default() };
    let ep = run(&p, &env, &inst, &cfg).await;
    // 100, 200, then 300 > 250: the third completion is recorded but not run.
    assert_eq!((ep.exit.clone(), ep.steps, ep.trajectory.steps.len()), (ExitReason::TokenBudget, 3, 2));
    assert_eq!((ep.tokens.prompt, ep.tokens.completion, ep.tokens.estimated), (240, 60, false));
    assert_eq!(env.ran().len(), 2);

    let env = FakeEnv::echo();
    let mut p = Canned::new(&[BASH_LS]);
    p.delay = Duration::from_millis(150);
    let cfg = AgentConfig { time_budget: Some(Duration::from_millis(400)), ..Default::default() };
    let ep = run(&p, &env, &inst, &cfg).await;
    assert_eq!(ep.exit, ExitReason::TimeBudget);
    assert!((2..=3).contains(&ep.trajectory.steps.len()), "{}", ep.trajectory.steps.len());
    assert!(ep.seconds < 1.0, "{}", ep.seconds);

    // A policy that never answers is cut off by the budget.
    let mut p = Canned::new(&[BASH_LS]);
    p.delay = Duration::from_secs(3600);
    let cfg = AgentConfig { time_budget: Some(Duration::from_millis(200)), ..Default::default() };
    let ep = run(&p, &FakeEnv::echo(), &inst, &cfg).await;
    assert_eq!((ep.exit.clone(), ep.steps), (ExitReason::TimeBudget, 0));
}

#[tokio::test]
async fn policy_and_sandbox_failures_end_the_episode_with_their_message() {
    let inst = instance("fail-1");
    let mut p = Canned::new(&[BASH_LS]);
    p.replies.push(Err("endpoint down".into()));
    let ep = run(&p, &FakeEnv::echo(), &inst, &AgentConfig::default()).await;
    assert_eq!(ep.exit, ExitReason::PolicyError { message: "endpoint down".into() });
    assert_eq!(ep.trajectory.steps.len(), 1);
    assert_eq!(ep.trajectory.exit_status.as_deref(), Some("policy_error"));

    let env = FakeEnv { fail_at: Some(1), ..FakeEnv::echo() };
    let ep = run(&Canned::new(&[BASH_LS]), &env, &inst, &AgentConfig::default()).await;
    assert_eq!(ep.exit, ExitReason::SandboxError { message: "the fake daemon went away".into() });
    assert_eq!((ep.steps, ep.trajectory.steps.len()), (2, 1));

    let bad = AgentConfig { max_format_errors: 0, ..Default::default() };
    let e = run_episode_in(&Canned::new(&[SUBMIT]), &FakeEnv::echo(), &inst, &bad, &mut |_| {}).await.unwrap_err();
    assert!(e.to_string().contains("max_format_errors"), "{e}");
}

#[tokio::test]
async fn scripted_policy_submits_after_its_script_and_needs_its_instance() {
    let inst = instance("s-1");
    let t = srl_core::Trajectory {
        instance_id: "s-1".into(),
        task: "t".into(),
        steps: vec![srl_core::Step { thought: "a".into(), action: ToolCall::bash("ls"), observation: String::new() }],
        patch: None,
        resolved: None,
        source_format: String::new(),
        source: String::new(),
        model: None,
        exit_status: None,
    };
    let p = ScriptedPolicy::new("scripted:x", [t]);
    let ep = run(&p, &FakeEnv::echo(), &inst, &AgentConfig::default()).await;
    assert_eq!(ep.exit, ExitReason::Submitted);
    assert_eq!(ep.trajectory.steps.len(), 2);
    assert_eq!(ep.patch.as_deref(), Some("diff --git a/x b/x\n"));
    let ep = run(&p, &FakeEnv::echo(), &instance("other"), &AgentConfig::default()).await;
    assert!(
        matches!(&ep.exit, ExitReason::PolicyError { message } if message.contains("no trajectory for instance other"))
    );
}

#[tokio::test]
async fn oracle_mode_shows_the_gold_files_and_accepts_only_str_replace() {
    let mut inst = instance("oracle-1");
    inst.patch =
        "diff --git a/pkg/a.py b/pkg/a.py\n--- a/pkg/a.py\n+++ b/pkg/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n".into();
    let mut env = FakeEnv::echo();
    env.files.insert("/testbed/pkg/a.py".into(), b"x = 1\n".to_vec());
    let edit = "<think>\nfix\n</think>\n<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n<parameter=path>/testbed/pkg/a.py</parameter>\n<parameter=old_str>x = 1</parameter>\n<parameter=new_str>x = 2</parameter>\n</function>";
    let policy = Recording::new(Canned::new(&[BASH_LS, edit, SUBMIT]));
    let cfg = AgentConfig { mode: Mode::OracleEdit, ..Default::default() };
    let ep = run(&policy, &env, &inst, &cfg).await;
    assert_eq!(ep.exit, ExitReason::Submitted);
    assert_eq!((ep.steps, ep.format_errors, ep.trajectory.steps.len()), (3, 1, 2));
    assert!(ep.turns[0].format_error.as_deref().unwrap().contains("oracle file edit mode"));
    let task = &ep.trajectory.task;
    assert_eq!(
        task,
        &srl_agent::task_text(
            &inst,
            Mode::OracleEdit,
            &[srl_agent::OracleFile { path: "pkg/a.py".into(), content: "x = 1\n".into() }]
        )
    );
    assert!(policy.prompts()[0][1].content.contains("<file path=\"/testbed/pkg/a.py\">\nx = 1\n</file>"));
    assert_eq!(env.ran().len(), 2);

    // A gold file that cannot be read is a sandbox error before any call.
    let env = FakeEnv::echo();
    let ep = run(&Canned::new(&[SUBMIT]), &env, &inst, &cfg).await;
    assert!(matches!(&ep.exit, ExitReason::SandboxError { message } if message.contains("/testbed/pkg/a.py")));
    assert_eq!(ep.steps, 0);
}
