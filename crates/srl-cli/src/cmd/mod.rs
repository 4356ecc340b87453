//! One module per command group. Each holds a clap subcommand enum and a `run` function.

pub mod agent;
pub mod data;
pub mod eval;
pub mod io;
pub mod model;
pub mod replay;
pub mod reward;
pub mod sandbox;
pub mod train;
