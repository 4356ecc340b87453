//! Wall time to grade every bundled task with its gold patch, at 1 and 2 workers (images built beforehand and not
//! counted). `cargo bench -p srl-eval --bench grade_bundled`; `SRL_BENCH_REPEATS` (default 3) runs per setting.

use std::path::PathBuf;
use std::time::Instant;

use srl_eval::{Harness, HarnessOptions, RunLayout, gold_predictions, load_dataset, plan_run};
use srl_sandbox::{ImageBuilder, Sandbox, TaskSet};

fn main() {
    if std::env::var("SRL_SKIP_DOCKER").is_ok_and(|v| v == "1") {
        eprintln!("SRL_SKIP_DOCKER=1: nothing to measure");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repeats: usize = std::env::var("SRL_BENCH_REPEATS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let sb = Sandbox::connect().await.expect("Docker");
        let builder = ImageBuilder::new(&sb, &root.join("docker"), &root.join("environments")).expect("specs");
        let tasks = TaskSet::bundled(&root.join("tasks")).expect("tasks");
        let instances = load_dataset(&root.join("tasks/bundled.jsonl")).expect("dataset");
        let h = Harness::new(sb.clone(), builder, tasks, HarnessOptions::default());
        let lease = h.hosts().acquire(None).await.expect("a slot");
        for inst in &instances {
            h.image(inst, &lease).await.expect("image");
        }
        drop(lease);
        let preds = gold_predictions(&instances);
        println!("grading {} bundled tasks with gold patches, {repeats} runs per setting", instances.len());
        println!("{:>7} {:>9} {:>9} {:>9} {:>14}", "workers", "mean s", "min s", "max s", "s/instance");
        for workers in [1usize, 2] {
            let mut times = Vec::new();
            for _ in 0..repeats {
                let dir = tempfile::tempdir().expect("tmp");
                let layout = RunLayout::new(dir.path(), "bench");
                let plan = plan_run(&instances, &preds, &layout, false).expect("plan");
                let t0 = Instant::now();
                let evs = h.run(&layout, &plan, workers, |_| {}).await.expect("run");
                times.push(t0.elapsed().as_secs_f64());
                assert!(evs.iter().all(|e| e.resolved()), "gold must resolve");
            }
            let mean = times.iter().sum::<f64>() / times.len() as f64;
            let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = times.iter().cloned().fold(0.0, f64::max);
            println!("{workers:>7} {mean:>9.2} {min:>9.2} {max:>9.2} {:>14.2}", mean / instances.len() as f64);
        }
    });
}
