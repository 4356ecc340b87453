//! What the host pool costs per instance, on the local engine: the pool's own work for one instance (a slot, the
//! image check, the ping after the work) and a container's start + removal tied to the process (attached stdin,
//! auto-remove) against one that outlives it. Prints p50 and p95. `SRL_BENCH_N` samples (default 100).
//! With `SRL_BENCH_SECOND_ENGINE=tcp://HOST:PORT` (a second engine, e.g. started as in `srl-eval`'s
//! `docker_hosts` test), also the time to move the base image there (3 runs; the image is removed there after each).
//!
//! Run: `cargo bench -p srl-sandbox --bench hosts`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use srl_sandbox::{Container, ContainerOptions, HostSpec, Hosts, ImageBuilder};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn show(name: &str, v: &mut [Duration]) {
    println!("{name:<44} p50 {:>9.3?}  p95 {:>9.3?}", pct(v, 0.5), pct(v, 0.95));
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes
    }
    let n: usize = std::env::var("SRL_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let progress: srl_sandbox::Progress = std::sync::Arc::new(|_| {});
        let mut specs = vec![HostSpec::url("local")];
        let second = std::env::var("SRL_BENCH_SECOND_ENGINE").ok();
        specs.extend(second.iter().map(HostSpec::url));
        let hosts = Hosts::connect(&specs, 2, None, progress).await.expect("Docker");
        let sb = hosts.first().sandbox.clone();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let b = ImageBuilder::new(&sb, &root.join("docker"), &root.join("environments")).unwrap();
        let image = b.ensure_base().await.unwrap().image;
        let mut pool = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            let lease = hosts.acquire(Some(&image)).await.unwrap();
            // The first call asks the engine; later ones know the image.
            hosts.ensure_image(lease.index(), &image, async |_| unreachable!("the image is there")).await.unwrap();
            assert!(hosts.check(lease.index()).await);
            drop(lease);
            if i > 0 {
                pool.push(t.elapsed());
            }
        }
        show("pool: slot + image check + ping", &mut pool);
        for outlive in [false, true] {
            let opts = ContainerOptions { workdir: "/".into(), outlive_process: outlive, ..Default::default() };
            let mut v = Vec::with_capacity(n);
            for _ in 0..n.min(30) {
                let t = Instant::now();
                let c = Container::start(&sb, &image, &opts).await.unwrap();
                c.remove().await.unwrap();
                v.push(t.elapsed());
            }
            let name = if outlive { "container start + remove, outliving" } else { "container start + remove, tied" };
            show(name, &mut v);
        }
        if second.is_some() {
            let other = hosts.hosts()[1].sandbox.docker();
            for _ in 0..3 {
                let t = Instant::now();
                hosts.transfer(0, 1, &image).await.unwrap();
                let took = t.elapsed();
                let size = other.inspect_image(&image).await.unwrap().size.unwrap_or(0);
                println!("move {image} ({} MiB) to the second engine: {took:.2?}", size >> 20);
                other.remove_image(&image, None::<bollard::query_parameters::RemoveImageOptions>, None).await.unwrap();
            }
        }
    });
}
