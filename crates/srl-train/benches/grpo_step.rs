//! One GRPO step of the trainer, split into sampling, reward, log-prob forward+backward and optimizer time, on the
//! tiny preset (the quickstart's setting, bundled-task prompts) and on a random model with Qwen2.5-0.5B's shapes
//! (LoRA, a small batch). The step is the trainer's own (`Trainer::train_step`); the split is the one it writes to
//! metrics.jsonl (`sample_s`, `reward_s`, `train_s`, `optim_s`).
//!
//! `cargo bench -p srl-train --bench grpo_step` (release). `SRL_BENCH_SKIP_05B=1` skips the 0.5B-shaped model
//! (about 2 GB in f32, minutes on a small CPU); `SRL_BENCH_STEPS=N` sets the timed GRPO steps of the tiny case.
//!
//! Dynamic sampling is off, so every sampled group is trained on whatever its rewards (an untrained model's
//! groups are flat and would all be dropped). The tiny model first takes the quickstart's SFT warm-up steps so
//! that its completions are mostly well-formed and the reward computes similarities (a malformed completion is
//! rejected before any similarity). As an upper bound the bench also times the scorer on well-formed completions
//! as long as the sampled ones (`reward*`): the expert call with its parameter values scrambled.

use std::path::Path;
use std::time::Instant;

use srl_core::{ActionKind, Message};
use srl_data::StepExample;
use srl_policy::init::{Preset, random_parts};
use srl_policy::{Policy, peak_rss_bytes};
use srl_reward::{Metric, Scorer};
use srl_train::{StepRecord, TrainConfig, Trainer};

struct Case {
    label: String,
    shape: String,
    warmup: usize,
    records: Vec<StepRecord>,
    step_s: Vec<f64>,
    upper_reward_s: f64,
}

fn quickstart(sets: &[String]) -> TrainConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/quickstart.toml");
    TrainConfig::from_file(&path, sets).expect("configs/quickstart.toml")
}

/// Scores `n` well-formed completions per example shaped like the expert's call with scrambled values, each about
/// `chars` characters long; returns the seconds. An upper bound of the reward's cost (every completion parsed and
/// compared).
fn upper_bound_reward(examples: &[StepExample], n: usize, chars: usize) -> f64 {
    let t = Instant::now();
    for (k, ex) in examples.iter().enumerate() {
        let mut scorer = Scorer::new(&ex.expert_action, Metric::Difflib);
        for g in 0..n {
            // A rotated, partly overwritten copy of the expert call: similar but not equal, so the block search works.
            let src: Vec<char> = ex.expert_action.chars().collect();
            let mut body = String::with_capacity(chars);
            let mut i = (k * 7 + g * 13) % src.len().max(1);
            while body.chars().count() < chars && !src.is_empty() {
                let c = src[i % src.len()];
                body.push(if (i + g).is_multiple_of(5) { 'x' } else { c });
                i += 1;
            }
            let body = body.replace(['<', '>'], " ");
            let text = format!(
                "<think>\nNext step.\n</think>\n<function=bash>\n<parameter=command>{body}</parameter>\n</function>"
            );
            let s = scorer.score(&text);
            assert!(s.format_ok, "the upper-bound completion must be well-formed: {text}");
        }
    }
    t.elapsed().as_secs_f64()
}

fn run_case(label: &str, cfg: TrainConfig, policy: Policy, train: Vec<StepExample>, steps: usize, out: &Path) -> Case {
    let warmup = cfg.sft.warmup_steps;
    let g = cfg.grpo.clone();
    let mut trainer = Trainer::from_parts(cfg.clone(), policy, train.clone(), vec![], out, false).expect("trainer");
    let t = Instant::now();
    for _ in 0..warmup {
        trainer.train_step().expect("sft step");
    }
    if warmup > 0 {
        println!("{label}: {warmup} SFT warm-up steps in {:.1} s", t.elapsed().as_secs_f64());
    }
    let mut records = Vec::new();
    let mut step_s = Vec::new();
    for _ in 0..steps {
        let t = Instant::now();
        let r = trainer.train_step().expect("grpo step");
        step_s.push(t.elapsed().as_secs_f64());
        assert_eq!(r.phase, "grpo");
        println!(
            "{label}: step {} {:.2} s (sample {:.2}, reward {:.5}, train {:.2}, optim {:.3}); reward {:.3}, format {:.2}",
            r.step,
            step_s.last().unwrap(),
            r.sample_s,
            r.reward_s,
            r.train_s,
            r.optim_s,
            r.reward_mean.unwrap_or(f64::NAN),
            r.format_rate.unwrap_or(f64::NAN)
        );
        records.push(r);
    }
    // Prompt lengths of the examples the steps drew, and completion length as sampled (upper bound: max_new_tokens).
    let ps = trainer.prompt_stats().clone();
    let per_step = g.prompts_per_batch * g.group_size;
    let mean_tok_s = records.iter().map(|r| r.sample_tokens_per_s * r.sample_s).sum::<f64>() / records.len() as f64;
    let chars_per_completion = (mean_tok_s / per_step as f64 * 3.0).max(64.0) as usize;
    let n_ex = g.prompts_per_batch.min(train.len());
    let upper = upper_bound_reward(&train[..n_ex], g.group_size, chars_per_completion);
    Case {
        label: label.into(),
        shape: format!(
            "{}x{} rollouts, {:.0} new tok/rollout, prompts up to {} tok, micro-batch {}",
            g.prompts_per_batch,
            g.group_size,
            mean_tok_s / per_step as f64,
            ps.max_tokens,
            g.micro_batch
        ),
        warmup,
        records,
        step_s,
        upper_reward_s: upper,
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn print_table(cases: &[Case]) {
    println!();
    println!(
        "| model | setting | steps | step s | sample s | reward s | log-prob fwd+bwd s | optimizer s | reward % | reward* s (%) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for c in cases {
        let r = &c.records;
        let step = mean(c.step_s.iter().copied());
        let sample = mean(r.iter().map(|x| x.sample_s));
        let reward = mean(r.iter().map(|x| x.reward_s));
        let train = mean(r.iter().map(|x| x.train_s));
        let optim = mean(r.iter().map(|x| x.optim_s));
        let fmt = mean(r.iter().map(|x| x.format_rate.unwrap_or(0.0)));
        println!(
            "| {} | {} (format-valid {:.0}%{}) | {} | {:.2} | {:.2} | {:.5} | {:.2} | {:.3} | {:.4}% | {:.5} ({:.4}%) |",
            c.label,
            c.shape,
            fmt * 100.0,
            if c.warmup > 0 { format!(", after {} SFT steps", c.warmup) } else { String::new() },
            r.len(),
            step,
            sample,
            reward,
            train,
            optim,
            100.0 * reward / step,
            c.upper_reward_s,
            100.0 * c.upper_reward_s / (step - reward + c.upper_reward_s)
        );
    }
    println!();
    println!("peak RSS: {:.0} MB", peak_rss_bytes().unwrap_or(0) as f64 / 1e6);
}

fn main() {
    // `cargo bench` passes `--bench`; arguments are ignored.
    let steps: usize = std::env::var("SRL_BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cases = Vec::new();

    // Tiny preset: the quickstart's config (full fine-tuning, compact prompts of the bundled tasks).
    let cfg = quickstart(&["grpo.dynamic_sampling=false".into(), "logging.plots=false".into()]);
    let (_, split) = srl_train::data::load_split(&root, &cfg.data).expect("bundled tasks");
    let policy = Policy::from_parts(
        random_parts(Preset::Tiny, cfg.model.init_seed).expect("tiny"),
        &srl_train::trainer::policy_options(&cfg),
    )
    .expect("policy");
    cases.push(run_case("tiny (full)", cfg, policy, split.train, steps, &tmp.path().join("tiny")));

    if std::env::var_os("SRL_BENCH_SKIP_05B").is_none() {
        // Qwen2.5-0.5B shapes: LoRA r=16 on all projections, one prompt x 4 rollouts of 32 tokens, micro-batch 2,
        // short prompts (a one-line system message and task, a few dozen tokens) so that it fits a 24 GB machine
        // and takes minutes.
        let sets: Vec<String> = [
            "model.training=lora",
            "lora.r=16",
            "sft.warmup_steps=0",
            "grpo.prompts_per_batch=1",
            "grpo.group_size=4",
            "grpo.micro_batch=2",
            "grpo.dynamic_sampling=false",
            "sampling.max_new_tokens=32",
            "logging.plots=false",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cfg = quickstart(&sets);
        let t = Instant::now();
        let policy = Policy::from_parts(
            random_parts(Preset::Qwen25_05B, 0).expect("0.5b"),
            &srl_train::trainer::policy_options(&cfg),
        )
        .expect("policy");
        println!(
            "0.5B shapes: {} parameters, {} trainable (LoRA), built in {:.1} s",
            policy.config().num_params(),
            policy.num_trainable_params(),
            t.elapsed().as_secs_f64()
        );
        let bash = |c: &str| format!("<function=bash>\n<parameter=command>{c}</parameter>\n</function>");
        let ex = |id: &str, task: &str, action: String| StepExample {
            instance_id: id.into(),
            step_index: 0,
            n_steps: 1,
            messages: vec![Message::system("You are a helpful assistant."), Message::user(task)],
            expert_action: action,
            expert_thought: String::new(),
            action_kind: ActionKind::Bash,
            source: "bench".into(),
            resolved: Some(true),
        };
        let train = vec![
            ex("a", "Run the tests of /testbed.", bash("cd /testbed && python -m pytest -q tests")),
            ex("b", "List the Python files.", bash("find /testbed -name '*.py' | sort")),
        ];
        let n: usize = std::env::var("SRL_BENCH_STEPS_05B").ok().and_then(|s| s.parse().ok()).unwrap_or(2).max(1);
        cases.push(run_case("Qwen2.5-0.5B shapes (LoRA r=16)", cfg, policy, train, n, &tmp.path().join("q05")));
    }
    print_table(&cases);
}
