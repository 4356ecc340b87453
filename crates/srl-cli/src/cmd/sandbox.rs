//! `srl-swe sandbox ...`: owned by the sandbox work (issue 3).

#[derive(Debug, clap::Subcommand)]
pub enum SandboxCmd {}

pub fn run(cmd: SandboxCmd) -> anyhow::Result<()> {
    match cmd {}
}
