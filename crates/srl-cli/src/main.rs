//! `srl-swe`: the command line of srl-swe. A thin layer over the library crates: argument parsing, files,
//! progress and exit codes. Each `cmd/*.rs` lowers its arguments and calls one library entry point; `support/` holds
//! what they share (the runtime and Ctrl-C, progress bars, files, typed flag values).

mod cmd;
mod support;

use clap::{Parser, Subcommand};

/// mimalloc keeps freed pages for reuse: the policy's large activations (a prefill's attention scores are
/// hundreds of MB a layer) went back to the kernel at every free under glibc's malloc, and the page faults of
/// their next allocation took more time than the matmuls (see ARCHITECTURE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train small code models as software-engineering agents with Supervised Reinforcement Learning, and
/// evaluate them on SWE-bench in Docker sandboxes.
#[derive(Debug, Parser)]
#[command(name = "srl-swe", version, propagate_version = true)]
struct Cli {
    /// Log filter for library diagnostics (as RUST_LOG), e.g. `info` or `srl_data=debug`.
    #[arg(long, global = true, env = "SRL_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import agent trajectories, build step-wise SRL examples, and describe datasets.
    #[command(subcommand)]
    Data(cmd::data::DataCmd),
    /// The SRL reward: difflib-exact similarity and completion scoring.
    #[command(subcommand)]
    Reward(cmd::reward::RewardCmd),
    /// Docker sandboxes: base images, task images, one-off runs, clean-up.
    #[command(subcommand)]
    Sandbox(cmd::sandbox::SandboxCmd),
    /// The candle policy: create, inspect and sample from Hugging Face model folders.
    #[command(subcommand)]
    Model(cmd::model::ModelCmd),
    /// Train with SRL (GRPO with dynamic sampling) or the SFT baseline from a TOML config.
    Train(cmd::train::TrainArgs),
    /// Grade predictions on SWE-bench instances in Docker (SWE-bench's rules, reports and layout; resumable).
    Eval(Box<cmd::eval::EvalArgs>),
    /// Replay other agents' recorded actions in the sandbox: observation similarity per step, first diverging
    /// step, graded patch; keep the trajectories that check out.
    Replay(Box<cmd::replay::ReplayArgs>),
    /// Run a policy as an agent on a few tasks and print each step live (thought, action, observation).
    Rollout(Box<cmd::rollout::RolloutArgs>),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    support::runtime::install_interrupt();
    let result = match cli.command {
        Command::Data(c) => cmd::data::run(c),
        Command::Reward(c) => cmd::reward::run(c),
        Command::Sandbox(c) => cmd::sandbox::run(c),
        Command::Model(c) => cmd::model::run(c),
        Command::Train(a) => cmd::train::run(a),
        Command::Eval(a) => cmd::eval::run(*a),
        Command::Replay(a) => cmd::replay::run(*a),
        Command::Rollout(a) => cmd::rollout::run(*a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is::<support::runtime::Interrupted>() => std::process::ExitCode::from(130),
        Err(e) => match e.downcast_ref::<support::runtime::ExitWith>() {
            Some(code) => std::process::ExitCode::from(code.0),
            None => {
                eprintln!("error: {}", describe(&e));
                std::process::ExitCode::FAILURE
            }
        },
    }
}

/// The error and its causes on one line (see [`srl_core::text::error_chain`]).
fn describe(e: &anyhow::Error) -> String {
    srl_core::text::error_chain(&**e)
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let lib = anyhow::Error::new(io).context("x.jsonl: no such file");
        assert_eq!(
            super::describe(&lib.context("loading --predictions x.jsonl")),
            "loading --predictions x.jsonl: x.jsonl: no such file"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::describe(&plain), "outer: inner");
    }
}
