//! Docker sandboxes for software-engineering agents, driven through bollard (tokio). Only this crate talks to Docker.
//!
//! - [`Sandbox`]: a connection to the Docker daemon ([`Sandbox::connect`] negotiates the API version), the run id,
//!   garbage collection of containers left by dead runs ([`Sandbox::gc`]).
//! - [`ImageBuilder`]: the three SWE-bench layers, each tagged by a hash of what built it (an unchanged recipe is
//!   never rebuilt, a changed one always is):
//!   base `srl-swe/base.<suite>:<hash>` (debootstrap of a Debian suite, [`DebianSuite`]: bullseye 3.9, bookworm
//!   3.11, trixie 3.13, with `docker/base/recipe.toml`'s packages, compilers included, + `setup.sh` + the
//!   `apt_packages` of the environment, from the host's apt mirror, `SRL_DEBIAN_MIRROR` overrides);
//!   environment `srl-swe/env.<spec>:<hash>` (a venv at `/opt/venv` made with the suite's python3, filled from a
//!   wheelhouse that `pip download` fills on the host for that Python and platform, sdists included and built in
//!   the image; kept at `/opt/srl-wheels` with pip offline on it; the container has no network; a spec whose
//!   Python is in no suite names the suite it uses and its `deviation`); instance `srl-swe/inst.<id>:<hash>` (the
//!   repository at `base_commit` under `/testbed` through git2 with nothing later reachable, the spec's
//!   requirement file read at the `environment_setup_commit`, `pre_install` and `install` run; whatever pip
//!   misses is downloaded on the host and the step run again, [`wheels`]; tracked files the set-up rewrote are
//!   committed as `refs/srl-swe/setup`, as SWE-bench commits them; `git gc --prune=now`, a clean `git status`
//!   checked). [`ImageSource::Swebench`] pulls SWE-bench's published images instead (`--image-source swebench`,
//!   [`ImageSourceKind`]; `{id}` in the template is the id with `__` as `_1776_`, `{id_raw}` the id as is).
//! - [`Container`]: a labelled, resource-limited (memory, CPU, pids), network-less container removed when dropped;
//!   files move through Docker's archive endpoint. [`Container::exec`] runs `bash -lc` with a timeout that kills
//!   the whole process group and an output cap that keeps head and tail. It goes through one long-lived exec per
//!   container (a runner reading NUL-separated `token, workdir, command` records on its stdin), each command under
//!   `setsid -w bash -c WRAP` with an exit sentinel and an end marker, so a background job keeping stdout open does
//!   not hold the call; a timeout kills the command's process group from a second, detached exec (found by its
//!   token; the container is restarted if even that fails), and the end marker resynchronises the stream. Commands
//!   with extra `env` or `keep_background` use one Docker exec each, with the same semantics. Background processes
//!   are killed when a command ends unless [`ExecOptions::keep_background`].
//! - [`tools`]: SWE-agent's `bash`, `str_replace_editor` (view, create, str_replace, insert, undo_edit, with
//!   SWE-agent's exact wording; implemented on the host) and `submit` (`git add -A && git diff --cached <base>`,
//!   the base being [`ToolState::base_commit`], set with [`Container::configure_tools`]; default `HEAD`), through
//!   [`Container::run_tool`]. [`Observation::text`] is raw: no `OBSERVATION:` prefix, `\n` line endings (render it
//!   with `srl_core::prompt::render_observation`).
//! - [`patch`]: applying a patch with SWE-bench's fallbacks ([`Container::apply_patch`]: `git apply --verbose`, then
//!   `--reject`, then `patch --batch --fuzz=5 -p1 -i`, the tree restored between attempts).
//! - `repo.rs` ([`bundled_base_commit`], [`prepare_testbed`], [`RepoSource`]): the deterministic base commit of a
//!   bundled task (byte-identical to `tasks/tools/make_base.py`), and testbeds from a git mirror holding only the
//!   objects reachable from the base.
//! - [`spec`]: [`EnvSpec`], the environment specs of `environments/*.toml` (`name`, `repos` and `versions` as glob
//!   patterns, `python`, `suite` and `deviation` (the Debian suite when it has another Python, and why),
//!   `apt_packages`, `packages`, `pip_packages`, `requirement_files`, `conda` (conda names mapped to PyPI, Debian
//!   or skipped), `pre_install`, `install`, `eval_commands`, `test_cmd`, `log_format`, `network`, `no_use_env`,
//!   `nano_cpus`); unknown keys are errors naming the key and the file.
//! - [`wheels`]: `pip download`'s target flags per suite, the requirements a failed `pip install` missed,
//!   requirement files with their includes, `environment.yml` dependencies and the conda name mapping.
//! - [`task`]: [`TaskSet`], a dataset and where each repository comes from (`srl-swe/<name>` from
//!   `tasks/<name>/repo`, other repositories from a mirror folder).
//! - [`Hosts`]: several Docker engines as one pool ([`HostSpec`]: `local`, `unix://`, `tcp://` with optional TLS,
//!   `ssh://`; a TOML hosts file): [`Hosts::acquire`] a slot (free capacity, the image's engine first, then the
//!   least loaded), [`Hosts::ensure_image`] (present, else moved from an engine that has it, else built), pings
//!   that mark an engine down and wake [`Lease::lost`]. One engine with a capacity is the way to run at most N
//!   containers at once.
//!
//! Invariants: every container carries the labels `srl-swe=1`, [`LABEL_RUN`], [`LABEL_INSTANCE`] and [`LABEL_PID`]
//! (`HOST:PID:STARTTIME`) and is removed on success, error and panic (Drop); [`cleanup_all`] removes the live ones
//! (call it from a Ctrl-C handler); a container is tied to its process (its main process reads an attached stdin
//! and Docker auto-removes it when the process ends, even by `kill -9`) unless
//! [`ContainerOptions::outlive_process`]; [`Sandbox::gc`] removes those whose owning process is gone (pid absent or
//! reused). A failing command, a timeout or a patch that does not apply are values ([`ExecOutput`],
//! [`Observation`], [`ApplyReport`]), never `Err`; an `Err` means the infrastructure failed. The library logs with
//! `tracing` and never prints; build progress goes to a callback ([`ImageBuilder::progress`]).
//!
//! Host needs: a Docker daemon, root (debootstrap and chroot), `debootstrap`, `tar`, `python3 -m pip` (for the
//! wheelhouse), a reachable Debian mirror and PyPI (or a filled wheelhouse), and the docker CLI only for
//! `sandbox shell` and the `exec` benchmark. The Docker tests run whenever a daemon answers (`SRL_SKIP_DOCKER=1`
//! skips them) and build the images on first use.

mod container;
mod disk;
mod error;
mod exec;
mod hosts;
mod image;
pub mod patch;
mod repo;
mod sandbox;
pub mod spec;
pub mod task;
pub mod tools;
pub mod wheels;

pub use container::ToolState;
pub use container::{Container, ContainerOptions, FileStat, cleanup_all};
pub use disk::{ImagesDisk, human_bytes, union_bytes};
pub use error::{Result, SandboxError};
pub use exec::{ExecOptions, ExecOutput, truncate_bytes_middle};
pub use hosts::{Host, HostSpec, Hosts, Lease, TlsFiles};
pub use image::{BuildReport, ImageBuilder, ImageSource, ImageSourceKind, Progress, base_recipe, swebench_image_name};
pub use patch::{ApplyMethod, ApplyReport};
pub use repo::{RepoSource, bundled_base_commit, prepare_testbed, read_file_at};
pub use sandbox::{GcReport, LABEL_INSTANCE, LABEL_PID, LABEL_ROOT, LABEL_RUN, Sandbox};
pub use spec::{DebianSuite, EnvSpec};
pub use task::TaskSet;
pub use tools::Observation;
