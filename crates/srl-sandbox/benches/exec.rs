//! Per-command overhead of exec (a no-op command): bollard (this crate) vs the docker CLI (`docker exec`), on the
//! same container. Prints p50 and p95 of each. Needs a Docker daemon and the docker CLI; builds the base image if
//! it is missing. `SRL_BENCH_N` sets the number of samples (default 200).
//!
//! Run: `cargo bench -p srl-sandbox --bench exec`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use srl_sandbox::{Container, ContainerOptions, ExecOptions, ImageBuilder, Sandbox};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes
    }
    let n: usize = std::env::var("SRL_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let sb = Sandbox::connect().await.expect("Docker");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let b = ImageBuilder::new(&sb, &root.join("docker"), &root.join("environments")).unwrap();
        let image = b.ensure_base().await.unwrap().image;
        let c = Container::start(&sb, &image, &ContainerOptions { workdir: "/".into(), ..Default::default() })
            .await
            .unwrap();
        let opts = ExecOptions::default();
        for _ in 0..10 {
            c.exec("true", &opts).await.unwrap();
        }
        let mut ours = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let o = c.exec("true", &opts).await.unwrap();
            ours.push(t.elapsed());
            assert_eq!(o.exit_code, Some(0));
        }
        let mut raw = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            c.exec_argv(&["true"]).await.unwrap();
            raw.push(t.elapsed());
        }
        let id = c.id().to_string();
        let mut cli = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let s = std::process::Command::new("docker").args(["exec", &id, "true"]).status().unwrap();
            cli.push(t.elapsed());
            assert!(s.success());
        }
        let mut cli_bash = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let s = std::process::Command::new("docker").args(["exec", &id, "bash", "-lc", "true"]).status().unwrap();
            cli_bash.push(t.elapsed());
            assert!(s.success());
        }
        c.remove().await.unwrap();
        println!("exec overhead of a no-op, {n} samples each, same container:");
        println!("{:<52} {:>10} {:>10}", "", "p50", "p95");
        for (name, v) in [
            ("Container::exec(\"true\") (setsid+bash -lc, timeout)", &mut ours),
            ("Container::exec_argv([\"true\"]) (bare bollard exec)", &mut raw),
            ("docker exec CID true", &mut cli),
            ("docker exec CID bash -lc true", &mut cli_bash),
        ] {
            println!("{:<52} {:>10.2?} {:>10.2?}", name, pct(v, 0.5), pct(v, 0.95));
        }
        let speedup = pct(&mut cli, 0.5).as_secs_f64() / pct(&mut ours, 0.5).as_secs_f64();
        println!("p50 speed-up of Container::exec over `docker exec CID true`: {speedup:.1}x");
    });
}
