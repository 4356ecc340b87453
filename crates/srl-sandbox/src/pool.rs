//! At most N containers at once.

use std::ops::Deref;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::container::{Container, ContainerOptions};
use crate::error::{Result, SandboxError};
use crate::sandbox::Sandbox;

/// A limit on concurrently running containers: [`Pool::acquire`] waits for a free slot.
#[derive(Clone, Debug)]
pub struct Pool {
    sandbox: Sandbox,
    slots: Arc<Semaphore>,
    size: usize,
    options: ContainerOptions,
}

/// A container holding a pool slot; the slot frees when it is dropped or removed (and the container goes).
#[derive(Debug)]
pub struct PooledContainer {
    container: Container,
    _permit: OwnedSemaphorePermit,
}

impl Deref for PooledContainer {
    type Target = Container;
    fn deref(&self) -> &Container {
        &self.container
    }
}

impl PooledContainer {
    /// Remove the container and free the slot.
    pub async fn remove(self) -> Result<()> {
        self.container.remove().await
    }
}

impl Pool {
    /// A pool of `size` slots whose containers use `options` (the instance id is set per acquire).
    pub fn new(sandbox: &Sandbox, size: usize, options: ContainerOptions) -> Pool {
        let size = size.max(1);
        Pool { sandbox: sandbox.clone(), slots: Arc::new(Semaphore::new(size)), size, options }
    }

    /// The number of slots.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }

    /// Wait for a slot, then start a container of `image` for `instance_id`.
    pub async fn acquire(&self, image: &str, instance_id: Option<&str>) -> Result<PooledContainer> {
        let permit =
            self.slots.clone().acquire_owned().await.map_err(|e| SandboxError::Other(format!("pool closed: {e}")))?;
        let mut opts = self.options.clone();
        opts.instance_id = instance_id.map(str::to_string).or(opts.instance_id);
        let container = Container::start(&self.sandbox, image, &opts).await?;
        Ok(PooledContainer { container, _permit: permit })
    }
}
