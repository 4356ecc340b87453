//! `srl-swe model ...`: owned by the policy work (issue 5).

#[derive(Debug, clap::Subcommand)]
pub enum ModelCmd {}

pub fn run(cmd: ModelCmd) -> anyhow::Result<()> {
    match cmd {}
}
