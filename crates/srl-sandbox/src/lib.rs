//! Docker sandboxes for software-engineering agents, driven through bollard.
//!
//! - [`Sandbox`]: a connection to the Docker daemon ([`Sandbox::connect`]), garbage collection of containers left by
//!   dead runs ([`Sandbox::gc`]).
//! - [`ImageBuilder`]: the three SWE-bench layers (base from debootstrap, environment from a spec in `environments/`,
//!   instance with the repository at its base commit under `/testbed`), each tagged by a hash of what built it.
//! - [`Container`]: a labelled, resource-limited, network-less container removed when dropped; [`Container::exec`]
//!   runs `bash -lc` with a timeout that kills the whole process group and an output cap.
//! - [`tools`]: SWE-agent's `bash`, `str_replace_editor` and `submit` with their exact wording
//!   ([`Container::run_tool`]).
//! - [`patch`]: applying a patch with SWE-bench's fallbacks ([`Container::apply_patch`]).
//! - [`Pool`]: at most N containers at once.
//!
//! Invariants: every container carries the labels [`LABEL_RUN`], [`LABEL_INSTANCE`], [`LABEL_PID`] and is removed on
//! success, error and panic (Drop); [`cleanup_all`] removes the live ones (call it from a Ctrl-C handler);
//! [`Sandbox::gc`] removes those whose owning process is gone. A failing command, a timeout or a patch that does not
//! apply are values, never `Err`; an `Err` means the infrastructure failed.

mod container;
mod error;
mod exec;
mod image;
pub mod patch;
mod pool;
mod repo;
mod sandbox;
pub mod spec;
pub mod task;
pub mod tools;

pub use container::{Container, ContainerOptions, FileStat, cleanup_all};
pub use error::{Result, SandboxError};
pub use exec::{ExecOptions, ExecOutput, truncate_bytes_middle};
pub use image::{BuildReport, ImageBuilder, ImageSource, Progress, base_recipe, swebench_image_name};
pub use patch::{ApplyMethod, ApplyReport};
pub use pool::{Pool, PooledContainer};
pub use repo::{RepoSource, bundled_base_commit, prepare_testbed};
pub use sandbox::{GcReport, LABEL_INSTANCE, LABEL_PID, LABEL_ROOT, LABEL_RUN, Sandbox};
pub use spec::EnvSpec;
pub use task::TaskSet;
pub use tools::{Observation, ToolState};
