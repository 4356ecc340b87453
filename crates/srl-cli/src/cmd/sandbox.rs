//! `srl-swe sandbox ...`: images, one-off runs, interactive shells, recording expert trajectories, clean-up.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use srl_core::{ActionKind, Instance};
use srl_sandbox::{Container, ContainerOptions, ExecOptions, Sandbox};

use super::args::Paths;
use crate::support::progress::spinner;
use crate::support::runtime::{ExitWith, block, connect};

#[derive(Debug, clap::Subcommand)]
pub enum SandboxCmd {
    /// Build the base image (debootstrap from the host's Debian mirror, then import); a no-op when it exists.
    BuildBase {
        #[command(flatten)]
        paths: Paths,
        /// Debian mirror to debootstrap from (default: SRL_DEBIAN_MIRROR, else the host's apt sources).
        #[arg(long)]
        mirror: Option<String>,
    },
    /// Build the images (base, env, instance) of one task or of every row of a dataset.
    Build {
        #[command(flatten)]
        paths: Paths,
        /// Instance id of a task (bundled or in --dataset).
        #[arg(long, conflicts_with = "all")]
        task: Option<String>,
        /// Build every instance of the dataset (default dataset: the bundled tasks).
        #[arg(long)]
        all: bool,
    },
    /// Run one command in a fresh container of a task; its output and exit code are passed through.
    Run {
        #[command(flatten)]
        paths: Paths,
        #[arg(long)]
        task: String,
        /// Timeout in seconds (the command's process group is killed).
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Give the container Docker's default network (default: none).
        #[arg(long)]
        network: bool,
        /// The command (joined with spaces and run with `bash -lc`).
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// An interactive shell in a fresh container of a task (uses the docker CLI for the terminal).
    Shell {
        #[command(flatten)]
        paths: Paths,
        #[arg(long)]
        task: String,
        #[arg(long)]
        network: bool,
    },
    /// Replay a trajectory's actions in a fresh container of its task, fill in the observations and write the
    /// SWE-smith XML chat record (patch from submit; `resolved` left null).
    Record {
        #[command(flatten)]
        paths: Paths,
        /// The trajectory (e.g. tasks/<name>/solution.json; any format srl-data reads).
        trajectory: PathBuf,
        #[arg(long, short)]
        output: PathBuf,
        /// Timeout of each bash action, seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Write environment specs for SWE-bench's repositories from its env_specs.json: one file per repository and
    /// group of versions with identical facts, each saying how it is built offline and online.
    ImportSpecs {
        /// SWE-bench's facts: repo -> version -> {python, packages, install, test_cmd, ...}.
        file: PathBuf,
        /// Where the specs go (every other *.toml there is removed).
        #[arg(long, default_value = "environments/swe-bench")]
        out: PathBuf,
    },
    /// Remove containers left by dead runs (found by label); with --all, every srl-swe container.
    Gc {
        #[arg(long)]
        all: bool,
    },
}

/// Build (or find) the instance image of a task.
async fn instance_image(paths: &Paths, sb: &Sandbox, task: &str) -> anyhow::Result<(Instance, String)> {
    let tasks = paths.tasks()?;
    let inst = tasks.get(task)?.clone();
    let bar = spinner();
    let b = paths.builder(sb, &bar)?;
    let source = if paths.image_source == srl_sandbox::ImageSourceKind::Swebench {
        srl_sandbox::RepoSource::Files(PathBuf::new()) // not used: the image is pulled
    } else {
        tasks.source(&inst)?
    };
    let r = b.ensure_instance(&inst, &source).await;
    bar.finish_and_clear();
    let r = r?;
    if r.built {
        eprintln!("built {} in {:.1?}", r.image, r.duration);
    }
    Ok((inst, r.image))
}

pub fn run(cmd: SandboxCmd) -> anyhow::Result<()> {
    match cmd {
        SandboxCmd::BuildBase { paths, mirror } => block(async move {
            let sb = connect().await?;
            let bar = spinner();
            let mut b = paths.builder(&sb, &bar)?;
            if let Some(m) = mirror {
                b = b.mirror(m);
            }
            let r = b.ensure_base().await;
            bar.finish_and_clear();
            let r = r?;
            println!(
                "{} ({})",
                r.image,
                if r.built { format!("built in {:.1?}", r.duration) } else { "cached".into() }
            );
            Ok(())
        }),
        SandboxCmd::Build { paths, task, all } => block(async move {
            let sb = connect().await?;
            let tasks = paths.tasks()?;
            let ids: Vec<String> = match (&task, all || paths.dataset.is_some()) {
                (Some(t), _) => vec![t.clone()],
                (None, true) => tasks.instances.iter().map(|i| i.instance_id.clone()).collect(),
                (None, false) => bail!("give --task ID, or --all / --dataset FILE"),
            };
            for id in ids {
                let t0 = std::time::Instant::now();
                let (_, image) = instance_image(&paths, &sb, &id).await?;
                println!("{id}\t{image}\t{:.1?}", t0.elapsed());
            }
            Ok(())
        }),
        SandboxCmd::Run { paths, task, timeout, network, cmd } => {
            let code = block(async move {
                let sb = connect().await?;
                let (inst, image) = instance_image(&paths, &sb, &task).await?;
                let opts = ContainerOptions { instance_id: Some(inst.instance_id), network, ..Default::default() };
                let c = Container::start(&sb, &image, &opts).await?;
                let out = c.exec(&cmd.join(" "), &ExecOptions::with_timeout(Duration::from_secs(timeout))).await;
                c.remove().await?;
                let out = out?;
                print!("{}", out.output);
                std::io::stdout().flush().ok();
                if out.timed_out {
                    eprintln!("timed out after {timeout} s: the command's process group was killed");
                    return Ok(124);
                }
                Ok(out.exit_code.unwrap_or(1) as i32)
            })?;
            match code {
                0 => Ok(()),
                c => Err(ExitWith(u8::try_from(c).unwrap_or(1)).into()),
            }
        }
        SandboxCmd::Shell { paths, task, network } => block(async move {
            let sb = connect().await?;
            let (inst, image) = instance_image(&paths, &sb, &task).await?;
            let opts = ContainerOptions { instance_id: Some(inst.instance_id), network, ..Default::default() };
            let c = Container::start(&sb, &image, &opts).await?;
            let id = c.id().to_string();
            let status = tokio::task::spawn_blocking(move || {
                std::process::Command::new("docker").args(["exec", "-it", &id, "bash", "-l"]).status()
            })
            .await?;
            c.remove().await?;
            status.context("running `docker exec -it` (the docker CLI is needed for an interactive shell)")?;
            Ok(())
        }),
        SandboxCmd::Record { paths, trajectory, output, timeout } => block(async move {
            let sb = connect().await?;
            record(&paths, &sb, &trajectory, &output, timeout).await
        }),
        SandboxCmd::ImportSpecs { file, out } => {
            let facts = srl_eval::EnvSpecs::load(&file)?;
            let specs = srl_eval::specs_from_swebench(&facts)?;
            let written = srl_eval::write_specs(&specs, &out)?;
            let pairs: usize = facts.0.values().map(|v| v.len()).sum();
            let deviating: Vec<&str> =
                specs.iter().filter(|s| s.spec.deviation.is_some()).map(|s| s.spec.name.as_str()).collect();
            println!(
                "wrote {} specs for {pairs} repo/version pairs of {} repositories into {}; {} built on another \
                 Python than SWE-bench's (recorded as `deviation`): {}",
                written.len(),
                facts.0.len(),
                out.display(),
                deviating.len(),
                if deviating.is_empty() { "none".to_string() } else { deviating.join(", ") }
            );
            Ok(())
        }
        SandboxCmd::Gc { all } => block(async move {
            let sb = connect().await?;
            let r = sb.gc(all).await?;
            println!("removed {} container(s), kept {} of live runs", r.removed.len(), r.kept);
            for id in r.removed {
                println!("  {id}");
            }
            Ok(())
        }),
    }
}

async fn record(paths: &Paths, sb: &Sandbox, trajectory: &Path, output: &Path, timeout: u64) -> anyhow::Result<()> {
    let mut trajs = srl_data::import::read_path(trajectory, srl_data::import::Format::Auto)
        .with_context(|| format!("reading {}", trajectory.display()))?;
    if trajs.len() != 1 {
        bail!("{} holds {} trajectories; record takes exactly one", trajectory.display(), trajs.len());
    }
    let mut t = trajs.remove(0);
    let (inst, image) = instance_image(paths, sb, &t.instance_id).await?;
    let opts = ContainerOptions { instance_id: Some(inst.instance_id.clone()), ..Default::default() };
    let c = Container::start(sb, &image, &opts).await?;
    c.configure_tools(|s| {
        s.base_commit = Some(inst.base_commit.clone());
        s.exec = ExecOptions::with_timeout(Duration::from_secs(timeout));
    });
    let mut patch = None;
    let n = t.steps.len();
    for (i, step) in t.steps.iter_mut().enumerate() {
        let obs = c.run_tool(&step.action).await;
        let obs = match obs {
            Ok(o) => o,
            Err(e) => {
                c.remove().await.ok();
                return Err(e).with_context(|| format!("step {} ({})", i + 1, step.action.name()));
            }
        };
        eprintln!("[{}/{n}] {}{}", i + 1, step.action.kind().as_str(), if obs.error { " (tool error)" } else { "" });
        step.observation = obs.text;
        if step.action.kind() == ActionKind::Submit {
            patch = obs.patch;
        }
    }
    c.remove().await?;
    t.patch = patch;
    t.resolved = None;
    let rec = srl_data::swe_smith::to_record(&t);
    let text = serde_json::to_string_pretty(&rec)? + "\n";
    std::fs::write(output, text).with_context(|| format!("writing {}", output.display()))?;
    println!("wrote {} ({} steps, patch of {} bytes)", output.display(), n, t.patch.as_deref().map_or(0, str::len));
    Ok(())
}
