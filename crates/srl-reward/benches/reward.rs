//! Throughput of `similarity` and `reward` on real action pairs from ../shared/data/trajectories, and the same
//! pairs timed with CPython's difflib side by side (single thread both).
//!
//! `cargo bench -p srl-reward --bench reward`

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use srl_reward::{Metric, Scorer, similarity};

/// (policy action, expert action) pairs: each expert call against the next call of the same run (a plausible
/// wrong guess) and against a mutated copy of itself (a near miss).
fn real_pairs() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/trajectories/swe-smith-xml");
    let mut calls_per_run = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut calls = Vec::new();
        for m in doc["messages"].as_array().unwrap() {
            if m["role"] == "assistant"
                && let Ok((_, call)) = srl_core::ToolCall::split_thought(m["content"].as_str().unwrap())
            {
                calls.push(call.render());
            }
        }
        calls_per_run.push(calls);
    }
    let mut pairs = Vec::new();
    for calls in &calls_per_run {
        for w in calls.windows(2) {
            pairs.push((w[1].clone(), w[0].clone()));
            let mut near: Vec<char> = w[0].chars().collect();
            let mid = near.len() / 2;
            near.splice(mid..mid, "x = 1\n".chars());
            pairs.push((near.into_iter().collect(), w[0].clone()));
        }
    }
    pairs
}

fn cpython_seconds(pairs: &[(String, String)]) -> Option<f64> {
    let script = "import sys, json, time, difflib\n\
pairs = json.load(sys.stdin)\nbest = 1e9\n\
for _ in range(10):\n    t = time.perf_counter()\n    for a, b in pairs:\n        difflib.SequenceMatcher(None, a, b).ratio()\n    best = min(best, time.perf_counter() - t)\n\
print(best)\n";
    let mut child =
        Command::new("python3").args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().ok()?;
    let input = serde_json::to_vec(pairs).unwrap();
    let mut stdin = child.stdin.take()?;
    let w = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().ok()?;
    w.join().ok()?.ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn rust_seconds(pairs: &[(String, String)]) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..10 {
        let t = Instant::now();
        for (a, b) in pairs {
            black_box(similarity(black_box(a), black_box(b)));
        }
        best = best.min(t.elapsed());
    }
    best.as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let pairs = real_pairs();
    let mut g = c.benchmark_group("real_action_pairs");
    g.throughput(Throughput::Elements(pairs.len() as u64));
    g.bench_function("similarity", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(similarity(black_box(x), black_box(y)));
            }
        })
    });
    let completions: Vec<(String, String)> =
        pairs.iter().map(|(a, b)| (format!("<think>\nI will look at the code.\n</think>\n{a}"), b.clone())).collect();
    g.bench_function("reward", |b| {
        b.iter(|| {
            for (completion, expert) in &completions {
                black_box(srl_reward::reward(black_box(completion), black_box(expert)));
            }
        })
    });
    g.bench_function("reward_group_of_8", |b| {
        b.iter(|| {
            for chunk in completions.chunks(8) {
                let mut scorer = Scorer::new(&chunk[0].1, Metric::Difflib);
                for (completion, _) in chunk {
                    black_box(scorer.score(black_box(completion)));
                }
            }
        })
    });
    g.finish();

    let rust = rust_seconds(&pairs);
    match cpython_seconds(&pairs) {
        Some(py) => println!(
            "side by side on {} real action pairs, single thread, best of 10: rust {:.3} ms ({:.0} pairs/s), CPython difflib {:.3} ms ({:.0} pairs/s): {:.1}x",
            pairs.len(),
            rust * 1e3,
            pairs.len() as f64 / rust,
            py * 1e3,
            pairs.len() as f64 / py,
            py / rust
        ),
        None => println!("python3 not available: no side-by-side figure"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
