//! Policy benchmarks on CPU: sampling tokens/s for G=1 and G=8, and the forward+backward time of one training
//! micro-batch, on the tiny preset and on a random model with Qwen2.5-0.5B's shapes; peak RSS (VmHWM).
//!
//! `cargo bench -p srl-policy --bench policy` (release). `SRL_BENCH_SKIP_05B=1` skips the 0.5B-shaped model
//! (about 2 GB in f32 and slow on a small CPU). A plain harness: each figure is one timed run after a warm-up.

use std::time::Instant;

use srl_core::Message;
use srl_policy::init::{Preset, random_parts};
use srl_policy::{LoraConfig, Policy, PolicyOptions, SampleOptions, SamplingParams, Training, peak_rss_bytes};

fn rss_mb() -> f64 {
    peak_rss_bytes().unwrap_or(0) as f64 / 1e6
}

fn current_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0.0);
    kb / 1e3
}

fn bench(preset: Preset, label: &str, new_tokens: usize, prompt_chars: usize, micro: (usize, usize, usize)) {
    let t0 = Instant::now();
    let parts = random_parts(preset, 0).expect("random model");
    let lora = LoraConfig { r: 16, alpha: 32.0, ..Default::default() };
    let policy = Policy::from_parts(parts, &PolicyOptions { training: Training::Lora(lora), ..Default::default() })
        .expect("policy");
    println!("## {label}: {} params, built in {:.1} s", policy.config().num_params(), t0.elapsed().as_secs_f64());
    let task: String = srl_core::prompt::render_task("Fix the parser.").chars().take(prompt_chars).collect();
    let prompt =
        policy.chat_prompt_ids(&[Message::system("You are a helpful assistant."), Message::user(task)], 0).unwrap();
    println!("prompt: {} tokens; RSS now {:.0} MB, peak {:.0} MB", prompt.len(), current_rss_mb(), rss_mb());
    // Warm-up.
    let warm = SampleOptions {
        n: 1,
        params: SamplingParams { max_new_tokens: 2, ..Default::default() },
        ..Default::default()
    };
    policy.sample(std::slice::from_ref(&prompt), &warm).unwrap();
    for g in [1usize, 8] {
        let params = SamplingParams { temperature: 1.0, top_p: 1.0, top_k: 0, max_new_tokens: new_tokens };
        let so = SampleOptions { n: g, seed: 1, params };
        // Prefill (and the first token) alone, to separate it from decoding.
        let t = Instant::now();
        policy
            .sample(
                std::slice::from_ref(&prompt),
                &SampleOptions { params: SamplingParams { max_new_tokens: 1, ..params }, ..so.clone() },
            )
            .unwrap();
        let prefill = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let out = policy.sample(std::slice::from_ref(&prompt), &so).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let n: usize = out.iter().map(|c| c.ids.len()).sum();
        println!(
            "sample G={g}: {n} tokens in {secs:.2} s = {:.1} tok/s end to end; prefill {prefill:.2} s; decode {:.1} tok/s",
            n as f64 / secs,
            (n - g) as f64 / (secs - prefill).max(1e-9)
        );
    }
    println!("after sampling: RSS now {:.0} MB, peak {:.0} MB", current_rss_mb(), rss_mb());
    let (b, p_len, c_len) = micro;
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = (0..b)
        .map(|i| {
            let p: Vec<u32> = (0..p_len).map(|j| ((i * 31 + j * 7) % 1000) as u32).collect();
            let c: Vec<u32> = (0..c_len).map(|j| ((i * 13 + j * 5) % 1000) as u32).collect();
            (p, c)
        })
        .collect();
    for _ in 0..2 {
        let t = Instant::now();
        let lp = policy.logprobs(&pairs).unwrap();
        let fwd = t.elapsed().as_secs_f64();
        let loss = lp.logprobs.sum_all().unwrap().neg().unwrap();
        let grads = loss.backward().unwrap();
        let total = t.elapsed().as_secs_f64();
        assert!(grads.get(policy.trainable_vars()[0].as_tensor()).is_some());
        println!("LoRA r=16 micro-batch {b}x({p_len}+{c_len}): forward {fwd:.2} s, forward+backward {total:.2} s");
    }
    println!("peak RSS so far: {:.0} MB", rss_mb());
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    bench(Preset::Tiny, "tiny preset", 128, 2000, (4, 256, 128));
    if std::env::var_os("SRL_BENCH_SKIP_05B").is_none() {
        bench(Preset::Qwen25_05B, "Qwen2.5-0.5B shapes (random)", 24, 400, (4, 96, 32));
    }
    println!("peak RSS: {:.0} MB", rss_mb());
}
