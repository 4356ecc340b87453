//! Agent trajectories in, SRL step examples out.
//!
//! * [`import`]: reads the four real agent formats (SWE-smith / SWE-agent XML chat, SWE-agent `.traj`,
//!   mini-swe-agent `.traj.json`, OpenHands `output.jsonl`) and canonical trajectories, with automatic format
//!   detection, into [`srl_core::Trajectory`].
//! * [`swe_smith`]: also writes a trajectory back in the SWE-smith XML chat format.
//! * [`steps`]: one [`steps::StepExample`] per expert action, its context rendered with
//!   [`srl_core::render_prompt`] (the same function the agent loop uses).
//! * [`jsonl`]: reading and writing JSON Lines with errors that name the file and line.
//! * [`parquet`]: Parquet files as Hugging Face keeps datasets, read row by row into JSON objects (the importers
//!   read them as records, srl-eval as SWE-bench rows).
//!
//! Nothing here runs anything.

mod error;
pub mod import;
pub mod jsonl;
mod mini_swe_agent;
mod openhands;
pub mod parquet;
pub mod steps;
mod swe_agent;
pub mod swe_smith;

pub use error::DataError;
pub use import::{Format, ImportOptions, Imported, Skipped, read_path, read_paths};
pub use steps::{Holdout, Split, StepExample, StepOptions, build_examples, trajectory_examples};
