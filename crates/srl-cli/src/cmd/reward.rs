#[derive(Debug, clap::Subcommand)]
pub enum RewardCmd {}
pub fn run(cmd: RewardCmd) -> anyhow::Result<()> {
    match cmd {}
}
