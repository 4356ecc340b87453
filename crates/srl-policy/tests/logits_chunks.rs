//! The log-probs computed in chunks of rows (issue 13, "logits only where needed") equal the full computation,
//! values and gradients; the benchmark's sampling entry point and workload (tiny random models, CPU, f32).

use candle_core::{D, Device, Tensor, Var};
use srl_core::Message;
use srl_policy::bench::{BenchOptions, workload};
use srl_policy::init::{Preset, random_parts};
use srl_policy::{LoraConfig, Policy, PolicyOptions, SampleOptions, SamplingParams, Training};

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

fn lora_policy() -> Policy {
    let lora = LoraConfig { r: 4, alpha: 8.0, ..Default::default() };
    let opts = PolicyOptions { training: Training::Lora(lora), ..Default::default() };
    let p = Policy::from_parts(random_parts(Preset::Tiny, 3).unwrap(), &opts).unwrap();
    // B starts at zero; deterministic non-zero values make the adapters count.
    for (i, (name, v)) in p.named_trainable_vars().into_iter().enumerate() {
        if name.contains("lora_B") {
            let n = v.elem_count();
            let x = (Tensor::arange(0u32, n as u32, &Device::Cpu).unwrap().to_dtype(candle_core::DType::F32).unwrap()
                * (0.37 + i as f64 * 0.01))
                .unwrap()
                .sin()
                .unwrap();
            v.set(&(x * 0.05).unwrap().reshape(v.shape()).unwrap()).unwrap();
        }
    }
    p
}

/// Prompts of different lengths (left padding) and completions of different lengths (right padding), more
/// completion positions in all than one chunk of rows holds.
fn pairs(p: &Policy) -> Vec<(Vec<u32>, Vec<u32>)> {
    let tok = p.tokenizer();
    let prompt = |s: &str| p.chat_prompt_ids(&[Message::system("sys"), Message::user(s)], 0).unwrap();
    let long = "<think>\nThe parser drops the last line; read it first.\n</think>\n\n<function=bash>\n<parameter=command>\
                sed -n 1,80p src/parser.py && grep -n 'def parse' -r src</parameter>\n</function>";
    vec![
        (prompt("Fix the parser."), tok.encode(long).unwrap()),
        (prompt("A much longer task text that pads the others on the left."), tok.encode("<think>x</think>").unwrap()),
        (prompt("t"), tok.encode(&long.repeat(2)).unwrap()),
    ]
}

/// A loss that weighs every position differently, so a wrong gradient row would show.
fn loss_of(lp: &srl_policy::TokenLogprobs) -> Tensor {
    let (b, t) = lp.logprobs.dims2().unwrap();
    let w: Vec<f32> = (0..b * t).map(|i| ((i as f32) * 0.7).cos()).collect();
    let w = Tensor::from_vec(w, (b, t), &Device::Cpu).unwrap();
    (lp.logprobs.clone() * w).unwrap().sum_all().unwrap()
}

#[test]
fn chunked_logprobs_and_gradients_equal_the_full_logits() {
    let p = lora_policy();
    let pairs = pairs(&p);
    let total: usize = pairs.iter().map(|x| x.1.len()).sum();
    assert!(total > 64, "the test needs more completion rows than one chunk ({total})");
    let full = p.logprobs_full_logits(&pairs).unwrap();
    let chunked = p.logprobs(&pairs).unwrap();
    assert_eq!(full.lengths, chunked.lengths);
    assert_eq!(max_diff(&full.mask, &chunked.mask), 0.0);
    let d = max_diff(&full.logprobs, &chunked.logprobs);
    assert!(d <= 1e-5, "log-probs differ by {d}");
    // Without a graph (old log-probs, reference) the chunked values are the same too.
    let detached = p.logprobs_detached(&pairs).unwrap();
    let d = max_diff(&full.logprobs, &detached.logprobs);
    assert!(d <= 1e-4, "detached log-probs differ by {d}");
    let g_full = loss_of(&full).backward().unwrap();
    let g_chunk = loss_of(&chunked).backward().unwrap();
    let vars = p.named_trainable_vars();
    assert!(!vars.is_empty());
    for (name, v) in vars {
        let a = g_full.get(v.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient (full)"));
        let b = g_chunk.get(v.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient (chunked)"));
        let scale = a.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap().max(1.0);
        let d = max_diff(a, b);
        assert!(d <= 1e-5 * scale, "{name}: gradients differ by {d} (largest {scale})");
    }
}

#[test]
fn token_logprobs_agree_for_every_chunk_size_with_autograd_gradients() {
    let p = Policy::from_parts(random_parts(Preset::Tiny, 5).unwrap(), &PolicyOptions::default()).unwrap();
    let m = p.model();
    let hidden = p.config().hidden_size;
    let n = 37;
    let h0 =
        (Tensor::arange(0u32, (n * hidden) as u32, &Device::Cpu).unwrap().to_dtype(candle_core::DType::F32).unwrap()
            * 0.013)
            .unwrap()
            .sin()
            .unwrap()
            .reshape((n, hidden))
            .unwrap();
    let h = Var::from_tensor(&h0).unwrap();
    let targets: Vec<u32> = (0..n).map(|i| ((i * 97) % p.config().vocab_size) as u32).collect();
    // The full computation with candle's autograd.
    let logits = m.logits(h.as_tensor()).unwrap();
    let lsm = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
    let t = Tensor::from_slice(&targets, (n, 1), &Device::Cpu).unwrap();
    let want = lsm.gather(&t, 1).unwrap().squeeze(1).unwrap();
    let w: Vec<f32> = (0..n).map(|i| 1.0 + (i as f32 * 0.3).sin()).collect();
    let w = Tensor::from_vec(w, n, &Device::Cpu).unwrap();
    let g_want = (want.clone() * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let g_want = g_want.get(h.as_tensor()).unwrap();
    for chunk in [1, 5, 36, 37, 1000] {
        let got = m.token_logprobs(h.as_tensor(), &targets, false, chunk).unwrap();
        assert!(max_diff(&want, &got) <= 1e-5, "chunk {chunk}: values");
        let got = m.token_logprobs(h.as_tensor(), &targets, true, chunk).unwrap();
        assert!(max_diff(&want, &got) <= 1e-5, "chunk {chunk}: values with a graph");
        let g = (got * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let d = max_diff(g_want, g.get(h.as_tensor()).unwrap());
        assert!(d <= 1e-5, "chunk {chunk}: gradients differ by {d}");
    }
}

#[test]
fn sample_timed_equals_sample_and_runs_to_length_when_asked() {
    let p = Policy::from_parts(random_parts(Preset::Tiny, 7).unwrap(), &PolicyOptions::default()).unwrap();
    let prompt = p.chat_prompt_ids(&[Message::user("Fix the parser.")], 0).unwrap();
    let so = SampleOptions {
        n: 3,
        seed: 9,
        params: SamplingParams { temperature: 1.0, top_p: 1.0, top_k: 0, max_new_tokens: 24 },
    };
    let a = p.sample(std::slice::from_ref(&prompt), &so).unwrap();
    let (b, timing) = p.sample_timed(std::slice::from_ref(&prompt), &so, false).unwrap();
    assert_eq!(a, b);
    assert!(timing.prefill_secs > 0.0 && timing.decode_secs >= 0.0);
    let (c, _) = p.sample_timed(std::slice::from_ref(&prompt), &so, true).unwrap();
    assert!(c.iter().all(|x| x.ids.len() == 24), "{:?}", c.iter().map(|x| x.ids.len()).collect::<Vec<_>>());
    // Up to where each row of `a` ended, the rows are the same draws.
    for (x, y) in a.iter().zip(&c) {
        assert_eq!(x.ids[..], y.ids[..x.ids.len()]);
    }
}

#[test]
fn bench_workload_has_the_asked_sizes_and_runs_on_a_tiny_model() {
    let dir = tempfile::tempdir().unwrap();
    srl_policy::init_model_dir(dir.path(), Preset::Tiny, 0).unwrap();
    let opts = BenchOptions {
        model: dir.path().display().to_string(),
        prefill_tokens: 300,
        decode_tokens: 5,
        decode_batch: 3,
        train_rollouts: 2,
        train_prompt_tokens: 120,
        train_completion_tokens: 16,
        lora_r: 4,
        ..Default::default()
    };
    let p = Policy::load(&opts.model, &PolicyOptions::default()).unwrap();
    let w = workload(&p, &opts).unwrap();
    assert_eq!(w, workload(&p, &opts).unwrap(), "deterministic");
    assert!((250..=350).contains(&w.prompt.len()), "{}", w.prompt.len());
    assert_eq!(w.train_pairs.len(), 2);
    assert!(w.train_pairs.iter().all(|(pr, c)| (100..=140).contains(&pr.len()) && c.len() == 16));
    let mut seen = Vec::new();
    let (report, work) = srl_policy::bench::run(&opts, &mut |r| seen.push(r.name.clone())).unwrap();
    assert_eq!(work, w);
    assert_eq!(seen, ["prefill", "greedy_b1", "sampled_b8", "grpo_fwd", "grpo_bwd"]);
    let tokens: Vec<usize> = report.phases.iter().map(|r| r.tokens).collect();
    assert_eq!(tokens[1..3], [5, 15]);
    assert_eq!(report.greedy_ids.len(), 5);
    assert_eq!(report.dtype, "f32");
    // The GRPO phases one rollout at a time with gradient checkpointing: the same tokens, the options in the
    // workload for the reference side.
    let grpo = vec!["grpo_fwd".to_string(), "grpo_bwd".to_string()];
    let one = BenchOptions { train_micro_batch: 1, gradient_checkpointing: true, phases: grpo, ..opts };
    let (report, work) = srl_policy::bench::run(&one, &mut |_| {}).unwrap();
    assert_eq!((work.micro_batch, work.gradient_checkpointing), (1, true));
    let names: Vec<&str> = report.phases.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["grpo_fwd", "grpo_bwd"]);
    assert!(report.phases.iter().all(|r| r.tokens == 2 * (w.train_pairs[0].0.len() + 16)));
}
