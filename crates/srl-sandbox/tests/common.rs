//! Shared set-up of the Docker integration tests: a sandbox (or a loud failure), the images of the bundled tasks.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use srl_core::Instance;
use srl_sandbox::{ImageBuilder, Sandbox, TaskSet};
use tokio::sync::OnceCell;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The sandbox, or `None` when `SRL_SKIP_DOCKER=1` (see [`Sandbox::connect_for_test`]).
pub async fn sandbox() -> Option<Sandbox> {
    Sandbox::connect_for_test().await
}

pub fn builder(sb: &Sandbox) -> ImageBuilder {
    let progress: srl_sandbox::Progress = Arc::new(|l: &str| eprintln!("[build] {l}"));
    ImageBuilder::new(sb, &root().join("docker"), &root().join("environments")).unwrap().progress(progress)
}

pub fn tasks() -> TaskSet {
    TaskSet::bundled(&root().join("tasks")).unwrap()
}

/// Image names shared by the tests of one binary (built once).
pub struct Images {
    pub base: String,
    pub env: String,
    /// instance id -> image
    pub instances: Vec<(Instance, String)>,
}

static IMAGES: OnceCell<Images> = OnceCell::const_new();

/// Build (or find) the base, env and every bundled instance image.
pub async fn images(sb: &Sandbox) -> &'static Images {
    IMAGES
        .get_or_init(|| async {
            let b = builder(sb);
            let base = b.ensure_base().await.expect("base image").image;
            let tasks = tasks();
            let first = &tasks.instances[0];
            let spec = b.spec_for(&first.repo, &first.version).unwrap().clone();
            let env = b.ensure_env(&spec).await.expect("env image").image;
            let mut instances = Vec::new();
            for inst in &tasks.instances {
                let src = tasks.source(inst).unwrap();
                let img = b.ensure_instance(inst, &src).await.expect("instance image").image;
                instances.push((inst.clone(), img));
            }
            Images { base, env, instances }
        })
        .await
}

/// No container of this sandbox's run is left.
pub async fn assert_clean(sb: &Sandbox) {
    let left = sb.list_containers(Some(sb.run_id())).await.unwrap();
    assert!(left.is_empty(), "containers left behind: {:?}", left.iter().map(|c| &c.id).collect::<Vec<_>>());
}
