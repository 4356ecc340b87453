//! Containers and exec against the real Docker daemon: limits, timeouts, caps, isolation, clean-up.

mod common;

use std::time::{Duration, Instant};

use srl_sandbox::{Container, ContainerOptions, ExecOptions, HostSpec, Hosts};

async fn env_container(sb: &srl_sandbox::Sandbox, opts: ContainerOptions) -> Container {
    let imgs = common::images(sb).await;
    Container::start(sb, &imgs.env, &ContainerOptions { workdir: "/".into(), ..opts }).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_basics() {
    let Some(sb) = common::sandbox().await else { return };
    let c = env_container(&sb, ContainerOptions::default()).await;
    let o = c.exec("echo out; echo err >&2; exit 3", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.exit_code, Some(3));
    assert_eq!(o.output, "out\nerr\n");
    assert!(!o.timed_out && !o.truncated);
    let o = c.exec("printf 'no newline'", &ExecOptions::default()).await.unwrap();
    assert_eq!((o.exit_code, o.output.as_str()), (Some(0), "no newline"));
    let o = c
        .exec(
            "pwd; echo $FOO",
            &ExecOptions { workdir: Some("/tmp".into()), env: vec!["FOO=bar".into()], ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(o.output, "/tmp\nbar\n");
    // The venv's python is on PATH in login shells; stdin is empty (a command waiting for input ends).
    let o = c.exec("which python && cat", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output, "/opt/venv/bin/python\n");
    // A background process holding stdout does not hold the call.
    let t = Instant::now();
    let o = c.exec("sleep 30 & echo started", &ExecOptions::with_timeout(Duration::from_secs(20))).await.unwrap();
    assert_eq!((o.exit_code, o.output.as_str(), o.timed_out), (Some(0), "started\n", false));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // By default what a command leaves in the background dies with it; keep_background keeps it.
    let o = c.exec("pgrep -f '[s]leep 30' || echo none", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output, "none\n");
    let keep = ExecOptions { keep_background: true, ..Default::default() };
    c.exec("sleep 77 &", &keep).await.unwrap();
    let o = c.exec("pgrep -f '[s]leep 77' >/dev/null && echo alive", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output, "alive\n");
    c.remove().await.unwrap();
    common::assert_clean(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_process_group_and_the_container_stays_usable() {
    let Some(sb) = common::sandbox().await else { return };
    let c = env_container(&sb, ContainerOptions::default()).await;
    let t = Instant::now();
    let o = c
        .exec("echo before; (sleep 1234 &); sleep 4321; echo never", &ExecOptions::with_timeout(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(o.timed_out);
    assert_eq!(o.exit_code, None);
    assert_eq!(o.output, "before\n");
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    let o = c.exec("pgrep -f '[s]leep 4321' || echo gone", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output, "gone\n", "the timed-out command survived");
    let o = c.exec("echo still usable", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output, "still usable\n");
    // The tool observation uses SWE-agent's wording.
    let obs = c.bash("sleep 100", &ExecOptions::with_timeout(Duration::from_secs(1))).await.unwrap();
    assert!(obs.timed_out);
    assert!(
        obs.text.starts_with("The command 'sleep 100' was cancelled because it took more than 1 seconds."),
        "{}",
        obs.text
    );
    drop(c);
    common::assert_clean(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_cap_keeps_head_and_tail() {
    let Some(sb) = common::sandbox().await else { return };
    let c = env_container(&sb, ContainerOptions::default()).await;
    let opts = ExecOptions { output_cap: 1000, ..Default::default() };
    let o = c.exec("echo START; seq 1 2000000; echo END", &opts).await.unwrap();
    assert!(o.success() && o.truncated);
    assert!(o.output.starts_with("START\n1\n2\n"));
    assert!(o.output.ends_with("1999999\n2000000\nEND\n"), "{}", &o.output[o.output.len() - 50..]);
    assert!(o.output.contains("<response clipped:"));
    assert!(o.output.len() < 1100);
    assert!(o.total_bytes > 14_000_000);
    // A command that would print gigabytes ends at its timeout, as an observation, with bounded memory.
    let t = Instant::now();
    let o = c
        .exec("yes", &ExecOptions { output_cap: 1000, ..ExecOptions::with_timeout(Duration::from_secs(3)) })
        .await
        .unwrap();
    assert!(
        o.timed_out && o.truncated && o.output.len() < 1100,
        "{:?} {} {} {}",
        o.exit_code,
        o.timed_out,
        o.truncated,
        o.output.len()
    );
    eprintln!("`yes` for 3 s: {} bytes through the API", o.total_bytes);
    assert!(t.elapsed() < Duration::from_secs(15));
    drop(c);
    common::assert_clean(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_means_only_loopback() {
    let Some(sb) = common::sandbox().await else { return };
    let c = env_container(&sb, ContainerOptions::default()).await;
    let o = c.exec("ls /sys/class/net", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    drop(c);
    let c = env_container(&sb, ContainerOptions { network: true, ..Default::default() }).await;
    let o = c.exec("ls /sys/class/net", &ExecOptions::default()).await.unwrap();
    assert!(o.output.split_whitespace().count() >= 2, "{}", o.output);
    drop(c);
    common::assert_clean(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_bomb_and_memory_hog_are_contained() {
    let Some(sb) = common::sandbox().await else { return };
    let opts = ContainerOptions { memory_bytes: Some(256 << 20), pids: Some(128), ..Default::default() };
    let c = env_container(&sb, opts).await;
    let bystander = env_container(&sb, ContainerOptions::default()).await;

    let o = c.exec(":(){ :|:& };:", &ExecOptions::with_timeout(Duration::from_secs(5))).await.unwrap();
    eprintln!("fork bomb: timed_out={} exit={:?}", o.timed_out, o.exit_code);
    let b = bystander.exec("echo fine", &ExecOptions::default()).await.unwrap();
    assert_eq!(b.output, "fine\n");
    let mut usable = false;
    for _ in 0..20 {
        let o = c.exec("echo usable", &ExecOptions::with_timeout(Duration::from_secs(10))).await.unwrap();
        if o.output == "usable\n" {
            usable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(usable, "the container did not recover from the fork bomb");

    let o = c
        .exec(
            "python3 -c 'x = []\nwhile True: x.append(bytearray(10**7))'",
            &ExecOptions::with_timeout(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert!(!o.success(), "the memory hog was not stopped");
    assert!(!o.timed_out, "the memory hog should end by the OOM killer or MemoryError, not the timeout");
    eprintln!("memory hog: exit={:?} output={:?}", o.exit_code, o.output);
    let o = c.exec("echo alive", &ExecOptions::default()).await.unwrap();
    assert_eq!(o.output, "alive\n");
    let b = bystander.exec("echo fine", &ExecOptions::default()).await.unwrap();
    assert_eq!(b.output, "fine\n");
    drop(c);
    drop(bystander);
    common::assert_clean(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_are_removed_on_drop_panic_and_cleanup_all() {
    let Some(sb) = common::sandbox().await else { return };
    let imgs = common::images(&sb).await;
    // Labels.
    let mut opts = ContainerOptions { instance_id: Some("x__y-1".into()), ..Default::default() };
    opts.labels.insert("purpose".into(), "test".into());
    let c = Container::start(&sb, &imgs.env, &opts).await.unwrap();
    let listed = sb.list_containers(Some(sb.run_id())).await.unwrap();
    let labels = listed[0].labels.clone().unwrap();
    assert_eq!(labels[srl_sandbox::LABEL_INSTANCE], "x__y-1");
    assert_eq!(labels["purpose"], "test");
    assert_eq!(labels[srl_sandbox::LABEL_RUN], sb.run_id());
    drop(c);
    common::assert_clean(&sb).await;
    // A panicking task.
    let (sb2, image) = (sb.clone(), imgs.env.clone());
    let r = tokio::spawn(async move {
        let _c = Container::start(&sb2, &image, &ContainerOptions::default()).await.unwrap();
        panic!("boom");
    })
    .await;
    assert!(r.is_err());
    common::assert_clean(&sb).await;
    // keep() + gc of a live owner.
    let c = Container::start(&sb, &imgs.env, &ContainerOptions::default()).await.unwrap();
    let id = c.keep();
    assert_eq!(sb.list_containers(Some(sb.run_id())).await.unwrap().len(), 1);
    sb.gc(false).await.unwrap(); // a live owner: kept
    assert_eq!(sb.list_containers(Some(sb.run_id())).await.unwrap().len(), 1);
    sb.docker()
        .remove_container(
            &id,
            Some(bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() }),
        )
        .await
        .unwrap();
    common::assert_clean(&sb).await;
}

/// Helper run in a child process by the kill tests: start a container (one that outlives the process when
/// `SRL_LEAKER_OUTLIVE` is set), print its id, hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaker_helper() {
    let Ok(image) = std::env::var("SRL_LEAKER") else { return };
    let sb = srl_sandbox::Sandbox::connect().await.unwrap();
    let opts = ContainerOptions { outlive_process: std::env::var("SRL_LEAKER_OUTLIVE").is_ok(), ..Default::default() };
    let c = Container::start(&sb, &image, &opts).await.unwrap();
    println!("LEAKED {}", c.id());
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// Starts `leaker_helper` in a child process, waits for its container, kills the child with SIGKILL (no
/// destructor runs) and returns the container id.
fn leak_and_kill(image: &str, outlive: bool) -> String {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "leaker_helper", "--nocapture", "--test-threads=1"]).env("SRL_LEAKER", image);
    if outlive {
        cmd.env("SRL_LEAKER_OUTLIVE", "1");
    }
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let id = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split("LEAKED ").nth(1).map(str::to_string))
        .expect("the helper printed no container id");
    child.kill().unwrap();
    child.wait().unwrap();
    id
}

async fn exists(sb: &srl_sandbox::Sandbox, id: &str) -> bool {
    sb.list_containers(None).await.unwrap().iter().any(|c| c.id.as_deref() == Some(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_leaves_no_container() {
    let Some(sb) = common::sandbox().await else { return };
    let imgs = common::images(&sb).await;
    let id = leak_and_kill(&imgs.env, false);
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while exists(&sb, &id).await {
        assert!(tokio::time::Instant::now() < end, "the container of a killed process is still there after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_run_is_collected() {
    let Some(sb) = common::sandbox().await else { return };
    let imgs = common::images(&sb).await;
    let id = leak_and_kill(&imgs.env, true);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(exists(&sb, &id).await, "a container made to outlive its process should be there before gc");
    let report = sb.gc(false).await.unwrap();
    assert!(report.removed.iter().any(|r| id.starts_with(r.as_str())), "{report:?}");
    assert!(!exists(&sb, &id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_runs_at_most_its_capacity() {
    let Some(sb) = common::sandbox().await else { return };
    let imgs = common::images(&sb).await;
    let progress: srl_sandbox::Progress = std::sync::Arc::new(|_| {});
    let hosts = Hosts::connect(&[HostSpec::url("local")], 2, Some(sb.run_id()), progress).await.unwrap();
    let running = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..5 {
        let (hosts, image, running, peak) = (hosts.clone(), imgs.env.clone(), running.clone(), peak.clone());
        handles.push(tokio::spawn(async move {
            let lease = hosts.acquire(Some(&image)).await.unwrap();
            let opts = ContainerOptions { instance_id: Some(format!("pool-{i}")), ..Default::default() };
            let c = Container::start(&lease.host().sandbox, &image, &opts).await.unwrap();
            let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            let o = c.exec(&format!("echo {i}"), &ExecOptions::default()).await.unwrap();
            assert_eq!(o.output, format!("{i}\n"));
            running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            c.remove().await.unwrap();
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 2);
    common::assert_clean(&sb).await;
}
