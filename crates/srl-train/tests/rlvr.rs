//! RLVR's mechanics on the tiny random model with a fake sandbox (the Docker runs are the CLI's tests): the rows
//! are the policy's own tokens with the prompts as sampled, training log-probs equal sampling log-probs, the
//! curriculum's stages and their resume.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::LocalBoxFuture;
use srl_agent::{AgentPolicy, Episode, ExitReason, PolicyRequest, TokenTotals, Turn};
use srl_core::{ActionKind, Instance, Message, Trajectory};
use srl_data::StepExample;
use srl_policy::{Policy, Preset, random_parts};
use srl_train::rlvr::{EpisodeRun, EpisodeRunner, Grade};
use srl_train::trainer::{RlvrEnv, Row};
use srl_train::{TrainConfig, Trainer};

/// A fake sandbox: two policy turns per episode, each followed by an observation; the patch is the parity of the
/// first completion's length, and grading resolves "1" (so a group's rewards differ).
struct Fake {
    /// The observation after the last turn (what `submit` printed): seen by no turn.
    last_observation: String,
}

impl EpisodeRunner for Fake {
    fn episode<'a>(&'a self, inst: &'a Instance, policy: &'a dyn AgentPolicy) -> LocalBoxFuture<'a, EpisodeRun> {
        Box::pin(async move {
            let mut messages = vec![Message::system("You fix bugs."), Message::user(inst.problem_statement.clone())];
            let mut turns = Vec::new();
            for turn in 0..2 {
                let req = PolicyRequest { instance_id: &inst.instance_id, turn, messages: &messages, prefill: "" };
                let reply = match policy.complete(req).await {
                    Ok(r) => r,
                    Err(e) => return EpisodeRun { episode: None, message: Some(e.to_string()) },
                };
                let obs =
                    if turn == 1 { self.last_observation.clone() } else { format!("OBSERVATION:\nfile{turn}.py") };
                messages.push(Message::assistant(reply.text.clone()));
                messages.push(Message::user(obs));
                turns.push(Turn {
                    turn,
                    completion: reply.text,
                    usage: reply.usage,
                    step_index: None,
                    format_error: None,
                });
            }
            let patch = (turns[0].completion.chars().count() % 2).to_string();
            let trajectory = Trajectory {
                instance_id: inst.instance_id.clone(),
                task: inst.problem_statement.clone(),
                steps: Vec::new(),
                patch: Some(patch.clone()),
                resolved: None,
                source_format: "canonical".into(),
                source: String::new(),
                model: None,
                exit_status: Some("submitted".into()),
            };
            let ep = Episode {
                trajectory,
                patch: Some(patch),
                exit: ExitReason::Submitted,
                steps: turns.len(),
                format_errors: 0,
                tokens: TokenTotals::default(),
                seconds: 0.0,
                turns,
            };
            EpisodeRun { episode: Some(ep), message: None }
        })
    }

    fn grade<'a>(&'a self, _: &'a Instance, patch: &'a str) -> LocalBoxFuture<'a, Grade> {
        Box::pin(async move { Grade { resolved: patch == "1", fail_to_pass: (0, 1), ..Grade::default() } })
    }
}

fn task(id: &str, text: &str) -> Instance {
    Instance { instance_id: id.into(), problem_statement: text.into(), ..Instance::default() }
}

fn env(rt: &tokio::runtime::Runtime, last_observation: &str) -> RlvrEnv {
    RlvrEnv {
        runner: Box::new(Fake { last_observation: last_observation.into() }),
        handle: rt.handle().clone(),
        train: vec![task("t-1", "The parser drops comments."), task("t-2", "Dates overflow in March.")],
        valid: vec![task("v-1", "Units convert wrongly.")],
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn example(id: &str, task: &str, action: &str) -> StepExample {
    StepExample {
        instance_id: id.into(),
        step_index: 0,
        n_steps: 1,
        messages: vec![Message::system("You fix bugs."), Message::user(task)],
        expert_action: action.into(),
        expert_thought: String::new(),
        action_kind: ActionKind::Bash,
        source: "test".into(),
        resolved: Some(true),
    }
}

fn examples() -> Vec<StepExample> {
    let bash = |c: &str| format!("<function=bash>\n<parameter=command>{c}</parameter>\n</function>");
    vec![example("a", "List the files.", &bash("ls")), example("b", "Run the tests.", &bash("pytest -q"))]
}

fn config(extra: &str) -> TrainConfig {
    let text = format!(
        r#"
[model]
training = "full"
max_prompt_tokens = 256
[algorithm]
kind = "rlvr"
steps = 3
seed = 11
[grpo]
prompts_per_batch = 2
group_size = 4
micro_batch = 8
max_sampling_rounds = 2
[sampling]
max_new_tokens = 24
[sft]
batch_size = 2
include_thought = false
[optimizer]
lr = 0.003
[validation]
every = 0
max_new_tokens = 24
[checkpoint]
every = 0
[logging]
plots = false
{extra}
"#
    );
    TrainConfig::parse(&text, &[], "test").unwrap()
}

fn trainer(cfg: &TrainConfig, out: &Path, resume: bool, rt: &tokio::runtime::Runtime) -> Trainer {
    let policy =
        Policy::from_parts(random_parts(Preset::Tiny, 0).unwrap(), &srl_train::trainer::policy_options(cfg)).unwrap();
    let train = if cfg.needs_steps() { examples() } else { Vec::new() };
    Trainer::from_parts(cfg.clone(), policy, train, vec![], out, resume).unwrap().with_rlvr(env(rt, "done")).unwrap()
}

fn trainer_with(cfg: &TrainConfig, out: &Path, rt: &tokio::runtime::Runtime, last_observation: &str) -> Trainer {
    let policy =
        Policy::from_parts(random_parts(Preset::Tiny, 0).unwrap(), &srl_train::trainer::policy_options(cfg)).unwrap();
    Trainer::from_parts(cfg.clone(), policy, vec![], vec![], out, false)
        .unwrap()
        .with_rlvr(env(rt, last_observation))
        .unwrap()
}

fn weights(t: &Trainer) -> Vec<Vec<f32>> {
    t.policy()
        .named_trainable_vars()
        .into_iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

fn run(t: &mut Trainer, stop_at: Option<usize>) {
    let stop = AtomicBool::new(false);
    let mut cb = |r: &srl_train::StepRecord| {
        if Some(r.step) == stop_at {
            stop.store(true, Ordering::SeqCst);
        }
    };
    t.run(&stop, &mut cb).unwrap();
}

#[test]
fn rows_are_the_policys_own_turns_with_their_sampling_logprobs() {
    let rt = runtime();
    let d = tempfile::tempdir().unwrap();
    let cfg = config("");
    let mut t = trainer(&cfg, &d.path().join("a"), false, &rt);
    let (rec, rows) = t.rlvr_batch().unwrap();
    let e = rec.rlvr.as_ref().unwrap();
    assert_eq!(rec.phase, "rlvr");
    assert!(e.episodes >= 8 && e.masked == 0, "{e:?}");
    assert_eq!(e.turns_mean, 2.0);
    // Every row is a turn of a kept episode: two per episode, groups of four.
    assert!(!rows.is_empty() && rows.len() % 8 == 0, "{} rows", rows.len());
    let tok = t.policy().tokenizer();
    for (prompt, completion, old, adv) in &rows {
        // The prompt is the chat as it was sampled: system, task and (second turn) the first reply and its
        // observation, then the generation prompt; the target is what the policy wrote and nothing else.
        let text = tok.decode(prompt, false).unwrap();
        assert!(text.contains("You fix bugs."), "{text:?}");
        assert!(!tok.decode(completion, false).unwrap().contains("OBSERVATION"));
        assert_eq!(completion.len(), old.len());
        assert!(adv.abs() > 0.1, "kept groups have non-zero advantages");
    }
    let second: Vec<&Row> = rows.iter().filter(|r| tok.decode(&r.0, false).unwrap().contains("file0.py")).collect();
    assert_eq!(second.len() * 2, rows.len(), "every episode's second turn sees the first observation as context");
    // Recomputed on the training path, the log-probs are the sampled ones.
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = rows.iter().map(|r| (r.0.clone(), r.1.clone())).collect();
    let lp = t.policy().logprobs(&pairs).unwrap();
    let got = lp.logprobs.to_vec2::<f32>().unwrap();
    let mask = lp.mask.to_vec2::<f32>().unwrap();
    let mut n = 0;
    for (i, r) in rows.iter().enumerate() {
        for (j, &want) in r.2.iter().enumerate() {
            assert!((got[i][j] - want).abs() < 1e-4, "row {i} token {j}: {} vs {want}", got[i][j]);
            n += 1;
        }
        assert_eq!(mask[i].iter().sum::<f32>() as usize, r.1.len(), "the mask covers the completion exactly");
    }
    assert!(n > 0);
}

#[test]
fn text_no_turn_sees_changes_no_row_and_no_step() {
    // The observation after the last turn is in the episode, never in a prompt or a target: the rows and the
    // trained weights are the same whatever it says.
    let rt = runtime();
    let d = tempfile::tempdir().unwrap();
    let cfg = config("");
    let other = "a completely different submit output\nwith two lines";
    let (_, rows_a) = trainer_with(&cfg, &d.path().join("a"), &rt, "done").rlvr_batch().unwrap();
    let (_, rows_b) = trainer_with(&cfg, &d.path().join("b"), &rt, other).rlvr_batch().unwrap();
    assert_eq!(rows_a, rows_b);
    let mut a = trainer_with(&cfg, &d.path().join("a2"), &rt, "done");
    let mut b = trainer_with(&cfg, &d.path().join("b2"), &rt, other);
    let before = weights(&a);
    a.train_step().unwrap();
    b.train_step().unwrap();
    assert_ne!(weights(&a), before, "the step trains");
    assert_eq!(weights(&a), weights(&b));
}

#[test]
fn rlvr_metrics_validation_and_rollouts_file() {
    let rt = runtime();
    let d = tempfile::tempdir().unwrap();
    let mut cfg = config("[rlvr]\nvalid_episodes = 2\nvalid_temperature = 1.0\n");
    cfg.validation.every = 3;
    cfg.logging.plots = true;
    let out = d.path().join("run");
    let mut t = trainer(&cfg, &out, false, &rt);
    run(&mut t, None);
    let recs = t.records();
    assert_eq!(recs.len(), 3);
    let r = &recs[2];
    let e = r.rlvr.as_ref().unwrap();
    assert!(r.reward_mean.is_some() && e.resolve_rate >= 0.0 && e.rollout_s > 0.0 && r.sample_s > 0.0);
    assert_eq!(e.exits.get("submitted"), Some(&e.episodes));
    let v = r.valid.as_ref().unwrap();
    assert_eq!((v.examples, v.on_train), (2, false), "two episodes of the held-out task");
    assert!(v.resolve_rate.is_some());
    let lines = std::fs::read_to_string(out.join("rollouts.jsonl")).unwrap();
    let valid: Vec<&str> = lines.lines().filter(|l| l.contains("\"split\":\"valid\"")).collect();
    assert_eq!(valid.len(), 2);
    assert!(valid.iter().all(|l| l.contains("\"instance_id\":\"v-1\"")));
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("checkpoints/best.json")).unwrap()).unwrap();
    assert_eq!(best["metric"], "resolve_rate");
    assert!(out.join("final/model").is_dir());
    let valid_plot = std::fs::read_to_string(out.join("plots/valid_similarity.svg")).unwrap();
    assert!(valid_plot.contains("resolve rate (RLVR episodes)"), "the plot's legend names the RLVR series");
    assert!(std::fs::read_to_string(out.join("plots/loss.svg")).unwrap().contains("RLVR loss"));
}

fn resume_case(cfg: &TrainConfig, stop_at: usize) {
    let rt = runtime();
    let d = tempfile::tempdir().unwrap();
    let mut a = trainer(cfg, &d.path().join("full"), false, &rt);
    run(&mut a, None);
    let total = cfg.total_steps();
    assert_eq!(a.step(), total);
    let split = d.path().join("split");
    let mut b = trainer(cfg, &split, false, &rt);
    run(&mut b, Some(stop_at));
    assert_eq!(b.step(), stop_at);
    drop(b);
    let mut c = trainer(cfg, &split, true, &rt);
    run(&mut c, None);
    assert_eq!(c.step(), total);
    assert_eq!(weights(&a), weights(&c), "a resumed run equals the uninterrupted one");
    let phases = |t: &Trainer| t.records().iter().map(|r| (r.stage, r.phase.clone())).collect::<Vec<_>>();
    assert_eq!(phases(&a), phases(&c));
    let metrics = std::fs::read_to_string(split.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), total);
    assert!(metrics.lines().all(|l| l.contains("\"stage\":")));
}

#[test]
fn resume_mid_rlvr_equals_an_uninterrupted_run() {
    resume_case(&config(""), 2);
}

#[test]
fn a_curriculum_runs_its_stages_and_resumes_across_the_boundary() {
    let cfg = config("[[stages]]\nkind = \"srl\"\nsteps = 2\n[[stages]]\nkind = \"rlvr\"\nsteps = 2\nlr = 0.001\n");
    let cfg = TrainConfig { sft: srl_train::config::SftConfig { warmup_steps: 1, ..cfg.sft.clone() }, ..cfg };
    assert_eq!(cfg.total_steps(), 4);
    let rt = runtime();
    let d = tempfile::tempdir().unwrap();
    let mut t = trainer(&cfg, &d.path().join("run"), false, &rt);
    run(&mut t, None);
    let phases: Vec<(usize, &str)> = t.records().iter().map(|r| (r.stage, r.phase.as_str())).collect();
    assert_eq!(phases, [(0, "sft"), (0, "grpo"), (1, "rlvr"), (1, "rlvr")]);
    assert_eq!(t.records()[2].lr, 0.001, "the stage's learning rate");
    resume_case(&cfg, 2);
}

#[test]
fn an_rlvr_run_without_a_sandbox_is_refused() {
    let cfg = config("");
    let d = tempfile::tempdir().unwrap();
    let policy =
        Policy::from_parts(random_parts(Preset::Tiny, 0).unwrap(), &srl_train::trainer::policy_options(&cfg)).unwrap();
    let mut t = Trainer::from_parts(cfg, policy, vec![], vec![], d.path(), false).unwrap();
    let stop = AtomicBool::new(false);
    let e = t.run(&stop, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("rlvr") && e.contains("sandbox"), "{e}");
}
