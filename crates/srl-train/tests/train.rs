//! End-to-end tests of the trainer on the tiny random model: the reward rises, resume is exact, checkpoints,
//! metrics and plots are written, dynamic sampling drops flat groups.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use srl_core::{ActionKind, Message};
use srl_data::StepExample;
use srl_policy::{Policy, Preset, random_parts};
use srl_train::{TrainConfig, Trainer};

fn example(id: &str, task: &str, action: &str) -> StepExample {
    StepExample {
        instance_id: id.into(),
        step_index: 0,
        n_steps: 1,
        messages: vec![Message::system("You are a helpful assistant."), Message::user(task)],
        expert_action: action.into(),
        expert_thought: String::new(),
        action_kind: ActionKind::Bash,
        source: "test".into(),
        resolved: Some(true),
    }
}

/// Four short tasks with short bash actions.
fn examples() -> Vec<StepExample> {
    let bash = |c: &str| format!("<function=bash>\n<parameter=command>{c}</parameter>\n</function>");
    vec![
        example("a", "List the files.", &bash("ls")),
        example("b", "Run the tests.", &bash("pytest -q")),
        example("c", "Show the readme.", &bash("cat README.md")),
        example("d", "Where are we?", &bash("pwd")),
    ]
}

fn policy(cfg: &TrainConfig) -> Policy {
    let parts = random_parts(Preset::Tiny, 0).unwrap();
    Policy::from_parts(parts, &srl_train::trainer::policy_options(cfg)).unwrap()
}

fn base_config(sets: &[&str]) -> TrainConfig {
    let text = String::from(
        r#"
[model]
training = "full"
max_prompt_tokens = 256
[algorithm]
steps = 4
seed = 7
[grpo]
prompts_per_batch = 4
group_size = 4
micro_batch = 8
[sampling]
max_new_tokens = 40
[sft]
batch_size = 4
include_thought = false
[optimizer]
lr = 0.003
[validation]
every = 0
max_new_tokens = 40
[checkpoint]
every = 0
keep_last = 2
[logging]
plots = false
"#,
    );
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    TrainConfig::parse(&text, &sets, "test").unwrap()
}

fn weights(t: &Trainer) -> Vec<(String, Vec<f32>)> {
    t.policy()
        .named_trainable_vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()))
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

fn max_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut m = 0f32;
    for ((na, va), (nb, vb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        for (x, y) in va.iter().zip(vb) {
            m = m.max((x - y).abs());
        }
    }
    m
}

fn resume_case(sets: &[&str]) {
    let cfg = base_config(sets);
    let d = tempfile::tempdir().unwrap();
    let full = d.path().join("full");
    let mut a = Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], &full, false).unwrap();
    run(&mut a, None);
    assert_eq!(a.step(), 4);
    let split = d.path().join("split");
    let mut b = Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], &split, false).unwrap();
    run(&mut b, Some(2));
    assert_eq!(b.step(), 2);
    drop(b);
    let mut c = Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], &split, true).unwrap();
    assert_eq!(c.step(), 2);
    run(&mut c, None);
    assert_eq!(c.step(), 4);
    let diff = max_diff(&weights(&a), &weights(&c));
    assert!(diff <= 1e-6, "resumed weights differ by {diff}");
    let moved = max_diff(
        &weights(&a),
        &weights(
            &Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], &d.path().join("fresh"), false)
                .unwrap(),
        ),
    );
    assert!(moved > 1e-4, "training did not change the weights ({moved})");
    // The metrics of the resumed run equal the uninterrupted run's, step by step (times aside).
    let strip = |t: &Trainer| {
        t.records().iter().map(|r| (r.step, r.phase.clone(), r.loss, r.reward_mean, r.grad_norm)).collect::<Vec<_>>()
    };
    assert_eq!(strip(&a), strip(&c));
    let lines = std::fs::read_to_string(split.join("metrics.jsonl")).unwrap().lines().count();
    assert_eq!(lines, 4);
}

/// 1 SFT step then 3 GRPO steps, stopped after step 2 and resumed: same weights as 4 steps in one go.
#[test]
fn resume_is_exact_full() {
    resume_case(&["sft.warmup_steps=2"]);
}

/// The same with LoRA, two updates per batch (the ratio and clip act), KL, cosine schedule and warm-up.
#[test]
fn resume_is_exact_lora() {
    resume_case(&[
        "model.training=lora",
        "lora.r=4",
        "sft.warmup_steps=1",
        "grpo.updates_per_batch=2",
        "grpo.kl_beta=0.05",
        "grpo.micro_batch=5",
        "schedule.kind=cosine",
        "schedule.warmup_steps=2",
    ]);
}

/// An untrained model writes garbage (reward -1 everywhere): every group is flat and dropped, and the step
/// reports it instead of failing.
#[test]
fn dynamic_sampling_drops_flat_groups() {
    let cfg = base_config(&["algorithm.steps=1", "grpo.max_sampling_rounds=2"]);
    let d = tempfile::tempdir().unwrap();
    let mut t = Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], d.path(), false).unwrap();
    let r = t.train_step().unwrap();
    assert_eq!(r.phase, "grpo");
    assert_eq!(r.reward_mean, Some(-1.0));
    assert_eq!(r.format_rate, Some(0.0));
    assert_eq!(r.dropped_frac, Some(1.0));
    assert_eq!(r.groups, Some(0));
}

/// Checkpoints, plots, the resolved config, best-by-validation, and refusing to overwrite a run.
#[test]
fn run_folder_layout() {
    let cfg = base_config(&[
        "algorithm.steps=3",
        "sft.warmup_steps=3",
        "checkpoint.every=1",
        "checkpoint.keep_last=1",
        "validation.every=1",
        "validation.max_examples=2",
        "logging.plots=true",
    ]);
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    let mut t = Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], &out, false).unwrap();
    run(&mut t, None);
    for f in [
        "config.toml",
        "metrics.jsonl",
        "plots/reward.svg",
        "plots/reward.png",
        "plots/loss.png",
        "plots/valid_similarity.svg",
        "checkpoints/latest",
        "checkpoints/step-00000003/state.json",
        "checkpoints/step-00000003/trainable.safetensors",
        "checkpoints/step-00000003/optimizer.safetensors",
        "final/model/config.json",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("checkpoints/best.json")).unwrap()).unwrap();
    let best_dir = best["dir"].as_str().unwrap();
    assert!(out.join("checkpoints").join(best_dir).exists());
    let n_steps = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("step-"))
        .count();
    assert!(n_steps <= 2, "{n_steps} step folders kept");
    let rec = &t.records()[0];
    assert!(rec.valid.as_ref().unwrap().on_train);
    let again = TrainConfig::from_file(&out.join("config.toml"), &[]).unwrap();
    assert_eq!(again, cfg);
    let e = Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], &out, false).err().unwrap();
    assert!(e.to_string().contains("--resume"), "{e}");
}

/// SRL on the tiny model: 70 SFT steps teach a little of the format (mean reward about -0.9), then 70 GRPO steps
/// raise the mean rollout reward (first 5 GRPO steps -0.914, last 5 +0.262 with this seed; threshold +0.5).
#[test]
fn reward_rises() {
    let cfg = base_config(&[
        "algorithm.steps=140",
        "sft.warmup_steps=70",
        "sft.lr=0.01",
        "optimizer.lr=0.002",
        "grpo.group_size=8",
        "grpo.micro_batch=32",
    ]);
    let d = tempfile::tempdir().unwrap();
    let mut t = Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], d.path(), false).unwrap();
    run(&mut t, None);
    let losses: Vec<f64> = t.records().iter().filter(|r| r.phase == "sft").map(|r| r.loss).collect();
    eprintln!("sft losses: {:?}", losses.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>());
    let rewards: Vec<f64> = t.records().iter().filter_map(|r| r.reward_mean).collect();
    eprintln!("rewards: {:?}", rewards.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>());
    let k = 5;
    let first = rewards[..k].iter().sum::<f64>() / k as f64;
    let last = rewards[rewards.len() - k..].iter().sum::<f64>() / k as f64;
    eprintln!("first {first:.3} last {last:.3}");
    assert!(last > first + 0.5, "reward did not rise: first {first:.3}, last {last:.3}");
}

#[test]
fn shipped_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    for f in ["quickstart.toml", "srl-qwen2.5-coder-7b.toml"] {
        let p = root.join(f);
        if p.exists() {
            TrainConfig::from_file(&p, &[]).unwrap();
        }
    }
}

/// The shipped quickstart config cut to a handful of steps, as `srl-swe train` runs it: the model folder is created
/// from the preset, the bundled tasks are read and split, and the run folder gets its layout.
#[test]
fn quickstart_config_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("tiny");
    let sets: Vec<String> = [
        &format!("model.path={}", model.display()),
        "algorithm.steps=3",
        "sft.warmup_steps=2",
        "sft.batch_size=2",
        "sft.micro_batch=2",
        "grpo.prompts_per_batch=1",
        "grpo.group_size=2",
        "grpo.max_sampling_rounds=1",
        "sampling.max_new_tokens=8",
        "validation.every=1",
        "validation.max_examples=2",
        "validation.max_new_tokens=8",
        "checkpoint.every=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cfg = TrainConfig::from_file(&root.join("configs/quickstart.toml"), &sets).unwrap();
    let out = d.path().join("run");
    let mut t = Trainer::new(cfg.clone(), &root, &out, false).unwrap();
    run(&mut t, None);
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert!(model.join(f).exists(), "model folder lacks {f}");
    }
    for f in [
        "config.toml",
        "metrics.jsonl",
        "plots/reward.png",
        "plots/reward.svg",
        "plots/valid_similarity.png",
        "plots/loss.svg",
        "checkpoints/latest",
        "checkpoints/best.json",
        "checkpoints/step-00000002/state.json",
        "checkpoints/step-00000003/trainable.safetensors",
        "checkpoints/step-00000003/optimizer.safetensors",
        "final/model/model.safetensors",
        "final/prompt.json",
    ] {
        assert!(out.join(f).exists(), "run folder lacks {f}");
    }
    // The prompt settings the agent must reuse: the quickstart's compact prompts.
    let prompt: srl_core::PromptConfig =
        serde_json::from_str(&std::fs::read_to_string(out.join("final/prompt.json")).unwrap()).unwrap();
    assert_eq!(prompt, srl_train::data::prompt_config(&cfg.data));
    assert_eq!(prompt.system, srl_core::prompt::SystemPrompt::Compact);
    let phases: Vec<&str> = t.records().iter().map(|r| r.phase.as_str()).collect();
    assert_eq!(phases, ["sft", "sft", "grpo"]);
    let v = t.records()[2].valid.as_ref().expect("validation at the last step");
    assert!(!v.on_train && v.examples == 2, "{v:?}");
    // The best validation (step 1 here: later ones are not better) is checkpointed though 1 is off the cadence.
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("checkpoints/best.json")).unwrap()).unwrap();
    let best_dir = out.join("checkpoints").join(best["dir"].as_str().unwrap());
    assert!(best_dir.join("state.json").exists(), "{best}");
    // The quickstart's prompts fit its budget: nothing is kept over it.
    assert_eq!(t.prompt_stats().over_budget, 0, "{:?}", t.prompt_stats());
    assert_eq!(TrainConfig::from_file(&out.join("config.toml"), &[]).unwrap(), cfg);
}

/// The prefill is part of every prompt and of every scored turn: the step evaluation scores the prefill followed by
/// the completion, the trainer runs SFT (targets cut after the prefill) and GRPO with it and writes it to
/// `final/prompt.json`, and an SFT target that cannot follow it is refused naming `data.prefill`.
#[test]
fn the_prefill_is_context_and_part_of_the_scored_turn() {
    let cfg = base_config(&[]);
    let p = policy(&cfg);
    let exs = examples();
    // Zero new tokens: the scored turn is the prefill alone, so a prefill holding the expert's action scores 1.
    let prefill = format!("<think>\nok\n</think>\n{}", exs[0].expert_action);
    for (prefill, reward) in [(prefill.clone(), 1.0), (String::new(), -1.0)] {
        let opts = srl_train::StepEvalOptions {
            prefill: prefill.clone(),
            ..srl_train::StepEvalOptions::greedy(0, srl_reward::Metric::Difflib)
        };
        let mut ids = |i: usize| Ok(p.chat_prompt(&exs[i].messages, &prefill, 0)?.ids);
        let mut seen = Vec::new();
        let s = srl_train::evaluate_steps(&p, &exs[..1], &mut ids, &opts, &mut |r| seen.push(r.clone())).unwrap();
        assert_eq!(s.all.reward_mean(), reward, "{prefill:?}");
        assert_eq!(seen[0].completion, prefill);
    }
    // The prompt ends with the prefill's tokens.
    let with = p.chat_prompt(&exs[0].messages, "<think>\n", 0).unwrap().ids;
    let without = p.chat_prompt(&exs[0].messages, "", 0).unwrap().ids;
    assert_eq!(&with[..without.len()], &without[..]);
    assert_eq!(p.tokenizer().decode(&with[without.len()..], false).unwrap(), "<think>\n");

    let d = tempfile::tempdir().unwrap();
    let cfg = base_config(&["algorithm.steps=2", "sft.warmup_steps=1", "data.prefill=\"<think>\\n\""]);
    assert_eq!(cfg.data.prefill, "<think>\n");
    let mut t = Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], d.path(), false).unwrap();
    run(&mut t, None);
    let phases: Vec<&str> = t.records().iter().map(|r| r.phase.as_str()).collect();
    assert_eq!(phases, ["sft", "grpo"]);
    let prompt: srl_core::PromptConfig =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("final/prompt.json")).unwrap()).unwrap();
    assert_eq!(prompt.prefill, "<think>\n");

    let cfg = base_config(&["algorithm.steps=1", "sft.warmup_steps=1", "data.prefill=\"<answer>\""]);
    let d = tempfile::tempdir().unwrap();
    let mut t = Trainer::from_parts(cfg.clone(), policy(&cfg), examples(), vec![], d.path(), false).unwrap();
    let e = t.train_step().unwrap_err().to_string();
    assert!(e.contains("data.prefill") && e.contains("<answer>"), "{e}");
}
