//! One module per command group, each with its clap arguments and a `run` function that lowers them into one
//! library call; [`args`] holds the argument groups several commands share. No command module imports another.

pub mod args;
pub mod data;
pub mod eval;
pub mod model;
pub mod replay;
pub mod reward;
pub mod rollout;
pub mod sandbox;
pub mod train;
