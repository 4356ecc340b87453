//! The evaluator over two Docker engines: the system one and a second engine this test starts on a loopback port
//! (its own data and exec roots under a temporary folder; stopped and removed whatever happens). Gold patches of
//! the bundled tasks resolve with instances on both engines (images moved to the second one); then again while the
//! second engine is killed mid-run: every instance graded once, all resolved, no hang.
//! Needs root and `dockerd` beside the running daemon. Set SRL_SKIP_DOCKER=1 to leave it out.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use srl_core::Instance;
use srl_eval::{Harness, HarnessOptions, RunLayout, gold_predictions, load_dataset, plan_run, summarize_run};
use srl_sandbox::{HostSpec, Hosts, ImageBuilder, Sandbox, TaskSet};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn instances() -> Vec<Instance> {
    load_dataset(&root().join("tasks/bundled.jsonl")).unwrap()
}

/// A second dockerd on `tcp://127.0.0.1:PORT`: its own config (`{}`), data root, exec root and pid file, no
/// iptables, and its own bridge interface. Not `--bridge none`: a daemon started so deletes the host's `docker0`,
/// breaking the system engine's default network.
struct SecondEngine {
    dir: tempfile::TempDir,
    port: u16,
    bridge: String,
    child: Option<Child>,
}

/// Runs `ip ARGS...`, panicking with its stderr on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip (iproute2)");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

impl SecondEngine {
    fn start() -> SecondEngine {
        let dir = tempfile::Builder::new().prefix("srl-engine-").tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let bridge = format!("srlb{port}");
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let mut engine = SecondEngine { dir, port, bridge, child: None };
        ip(&["addr", "add", &format!("10.254.{}.1/24", port % 250), "dev", &engine.bridge]);
        ip(&["link", "set", &engine.bridge, "up"]);
        engine.spawn();
        engine
    }

    fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("config.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .args(["-H", &self.url(), "--bridge", &self.bridge, "--iptables=false", "--ip-masq=false"])
            .arg("--ip-forward=false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting dockerd (these tests need root and dockerd; SRL_SKIP_DOCKER=1 skips them)");
        self.child = Some(child);
        let end = std::time::Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < end, "the second engine did not listen: {}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// SIGKILL: the engine stops answering at once, as a lost machine would.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            Command::new("kill").args(["-TERM", &c.id().to_string()]).status().ok();
            wait_or_kill(c, Duration::from_secs(30));
        }
    }
}

fn wait_or_kill(mut c: Child, within: Duration) {
    let end = std::time::Instant::now() + within;
    while std::time::Instant::now() < end {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    c.kill().ok();
    c.wait().ok();
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        self.stop();
        // A killed engine leaves its containers' shims (and their processes) behind: kill those trees, then
        // unmount what the engine mounted and remove its folder.
        let dir = self.dir.path().to_string_lossy().into_owned();
        for pid in processes_mentioning(&dir) {
            kill_tree(pid);
        }
        for sub in ["data", "exec"] {
            let p = self.dir.path().join(sub);
            Command::new("umount").arg("-R").arg("-l").arg(&p).stderr(Stdio::null()).status().ok();
        }
        let _ = std::fs::remove_dir_all(self.dir.path());
        Command::new("ip").args(["link", "del", &self.bridge]).stderr(Stdio::null()).status().ok();
    }
}

/// Pids whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
        })
        .collect()
}

/// SIGKILL `pid` and every descendant (children first found through /proc's parent ids).
fn kill_tree(pid: u32) {
    let parent_of = |p: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        stat[stat.rfind(')')? + 2..].split_whitespace().nth(1)?.parse().ok()
    };
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    for child in all.iter().copied().filter(|&c| parent_of(c) == Some(pid)) {
        kill_tree(child);
    }
    Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status().ok();
}

fn harness(hosts: &Hosts) -> Harness {
    let progress: srl_sandbox::Progress = Arc::new(|l: &str| eprintln!("[build] {l}"));
    let builder = ImageBuilder::new(&hosts.first().sandbox, &root().join("docker"), &root().join("environments"))
        .unwrap()
        .progress(progress);
    Harness::new(hosts.clone(), builder, TaskSet::bundled(&root().join("tasks")).unwrap(), HarnessOptions::default())
}

async fn pool(second: &SecondEngine) -> Hosts {
    let specs = [
        HostSpec { capacity: Some(1), ..HostSpec::url("local") },
        HostSpec { name: Some("second".into()), capacity: Some(1), ..HostSpec::url(second.url()) },
    ];
    let progress: srl_sandbox::Progress = Arc::new(|l: &str| eprintln!("[hosts] {l}"));
    Hosts::connect(&specs, 1, None, progress).await.unwrap()
}

/// Grades the gold patches of every bundled task over `hosts`; `during` runs beside the run. Returns the ids in
/// the order they were graded and the summary's host of each.
async fn gold_run(
    hosts: &Hosts,
    dir: &Path,
    during: impl std::future::Future<Output = ()>,
) -> (Vec<String>, BTreeMap<String, String>) {
    let h = harness(hosts);
    let all = instances();
    let preds = gold_predictions(&all);
    let layout = RunLayout::new(dir, "gold");
    let plan = plan_run(&all, &preds, &layout, false).unwrap();
    let mut graded = Vec::new();
    let run = h.run(&layout, &plan, hosts.total_capacity(), |ev| {
        assert!(
            ev.resolved(),
            "{} on {:?}: {:?} {:?}",
            ev.instance_id,
            ev.extras.docker_host,
            ev.error(),
            ev.extras.message
        );
        graded.push(ev.instance_id.clone());
    });
    let (done, ()) = tokio::time::timeout(Duration::from_secs(900), async { tokio::join!(run, during) })
        .await
        .expect("the run hung");
    done.unwrap();
    let summary = summarize_run(&all, &preds, &layout);
    assert_eq!(summary.resolved_instances, all.len(), "{summary:?}");
    (graded, summary.docker_hosts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_resolves_over_two_engines_and_survives_losing_one() {
    let Some(local) = Sandbox::connect_for_test().await else { return };
    let all: HashSet<String> = instances().into_iter().map(|i| i.instance_id).collect();
    // The images on the system engine (built on first use); the second engine starts empty.
    let warm = harness(&Hosts::from(local.clone()));
    let lease = warm.hosts().acquire(None).await.unwrap();
    for inst in instances() {
        warm.image(&inst, &lease).await.unwrap();
    }
    drop(lease);
    let mut second = SecondEngine::start();

    // 1. Both engines, capacity 1 each: instances on both, every one resolved and graded once.
    let hosts = pool(&second).await;
    let dir = tempfile::tempdir().unwrap();
    let (graded, by_host) = gold_run(&hosts, dir.path(), async {}).await;
    assert_eq!(graded.len(), all.len(), "graded twice or missing: {graded:?}");
    assert_eq!(graded.iter().cloned().collect::<HashSet<_>>(), all);
    let used: HashSet<&str> = by_host.values().map(String::as_str).collect();
    assert_eq!(used, HashSet::from(["local", "second"]), "{by_host:?}");
    assert_eq!(by_host.len(), all.len());

    // 2. Again, killing the second engine once it runs an instance: the rest goes to the system engine.
    let hosts = pool(&second).await;
    let second_docker = hosts.hosts()[1].sandbox.clone();
    let dir = tempfile::tempdir().unwrap();
    let kill = async {
        let end = tokio::time::Instant::now() + Duration::from_secs(600);
        loop {
            let running = second_docker.list_containers(None).await.map(|l| !l.is_empty()).unwrap_or(false);
            if running || tokio::time::Instant::now() > end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        second.kill();
        eprintln!("[test] killed the second engine");
    };
    let (graded, by_host) = gold_run(&hosts, dir.path(), kill).await;
    assert_eq!(graded.len(), all.len(), "graded twice or missing: {graded:?}");
    assert_eq!(graded.iter().cloned().collect::<HashSet<_>>(), all);
    assert!(hosts.down_reason(1).is_some(), "the killed engine should be marked down");
    assert!(by_host.values().all(|h| h == "local"), "instances graded on a dead engine: {by_host:?}");
    drop(second);
    // The system engine's default network is intact.
    let c = srl_sandbox::Container::start(
        &local,
        &warm.image(&instances()[0], &warm.hosts().acquire(None).await.unwrap()).await.unwrap(),
        &srl_sandbox::ContainerOptions { network: true, ..Default::default() },
    )
    .await
    .expect("a bridged container on the system engine after the second engine is gone");
    c.remove().await.unwrap();
}
