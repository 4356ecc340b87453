//! Images as disk: which ones an engine holds, removing one, and the disk a set of them holds (what
//! `srl_eval`'s cache levels read).

use std::collections::{HashMap, HashSet};
use std::fmt;

use bollard::models::ImageSummary;
use bollard::query_parameters::{ListImagesOptions, RemoveImageOptions};

use crate::error::{Context, Result, SandboxError};
use crate::hosts::Hosts;
use crate::sandbox::Sandbox;

/// The disk held by a set of images: how many, and their bytes with every layer counted once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImagesDisk {
    pub images: usize,
    pub bytes: u64,
}

/// The sum over engines (each engine's disk is its own).
impl std::ops::Add for ImagesDisk {
    type Output = ImagesDisk;
    fn add(self, other: ImagesDisk) -> ImagesDisk {
        ImagesDisk { images: self.images + other.images, bytes: self.bytes + other.bytes }
    }
}

impl std::ops::AddAssign for ImagesDisk {
    fn add_assign(&mut self, other: ImagesDisk) {
        *self = *self + other;
    }
}

/// `1.23 GB in 9 images` (decimal units, as `docker system df`).
impl fmt::Display for ImagesDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.images == 1 { "" } else { "s" };
        write!(f, "{} in {} image{s}", human_bytes(self.bytes), self.images)
    }
}

/// Bytes in decimal units with three significant digits (`512 B`, `12.3 MB`, `1.23 GB`), as Docker prints them.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 999.5 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    let digits = if v >= 99.95 {
        0
    } else if v >= 9.995 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {}", UNITS[unit])
}

/// The bytes held by the images of `list` that `selected` picks, each layer counted once: an image's own layers
/// are its size less its parent's (Docker's sizes include the parent's layers), and the parents of a selected
/// image count too. Exact for images made here (`docker commit` and imports record their parent); an image
/// without a parent (pulled or loaded) counts whole, so layers two such images share are counted twice.
pub fn union_bytes(list: &[ImageSummary], selected: impl Fn(&ImageSummary) -> bool) -> ImagesDisk {
    let by_id: HashMap<&str, &ImageSummary> = list.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut images = 0;
    let mut bytes = 0u64;
    for image in list.iter().filter(|i| selected(i)) {
        images += 1;
        let mut at = Some(image);
        while let Some(i) = at {
            if !seen.insert(i.id.as_str()) {
                break;
            }
            let parent = by_id.get(i.parent_id.as_str()).copied();
            let own = i.size.max(0) - parent.map_or(0, |p| p.size.max(0));
            bytes += own.max(0) as u64;
            at = parent;
        }
    }
    ImagesDisk { images, bytes }
}

impl SandboxError {
    /// Whether Docker answered 404 (no such image, container or exec).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            SandboxError::Docker {
                source: bollard::errors::Error::DockerResponseServerError { status_code: 404, .. },
                ..
            }
        )
    }
}

impl Sandbox {
    /// Every `repo:tag` the engine holds.
    pub async fn image_names(&self) -> Result<HashSet<String>> {
        let list = self.docker.list_images(Some(ListImagesOptions::default())).await.ctx(|| "list images".into())?;
        Ok(list.into_iter().flat_map(|i| i.repo_tags).filter(|t| t != "<none>:<none>").collect())
    }

    /// Removes the tag `image`, not forced: Docker refuses while a container (running or stopped) uses it, and
    /// keeps the layers other images still need. `Ok(false)` when the engine has no such image.
    pub async fn remove_image(&self, image: &str) -> Result<bool> {
        let opts = RemoveImageOptions { force: false, noprune: false };
        match self.docker.remove_image(image, Some(opts), None).await.ctx(|| format!("remove image {image}")) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The disk held by the images with a tag starting with one of `prefixes` (see [`union_bytes`]).
    pub async fn images_disk(&self, prefixes: &[String]) -> Result<ImagesDisk> {
        let opts = ListImagesOptions { all: true, ..Default::default() };
        let list = self.docker.list_images(Some(opts)).await.ctx(|| "list images".into())?;
        Ok(union_bytes(&list, |i| i.repo_tags.iter().any(|t| prefixes.iter().any(|p| t.starts_with(p.as_str())))))
    }
}

impl Hosts {
    /// Removes `image` from engine `index` as [`Sandbox::remove_image`] does, and forgets that the engine holds it
    /// (a later [`Hosts::ensure_image`] makes it again). `Ok(false)` when absent, or when the engine is down.
    pub async fn remove_image(&self, index: usize, image: &str) -> Result<bool> {
        if self.down_reason(index).is_some() {
            return Ok(false);
        }
        let removed = self.hosts()[index].sandbox.remove_image(image).await;
        if removed.is_ok() {
            self.forget_image(index, image);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, parent: &str, size: i64, tag: &str) -> ImageSummary {
        ImageSummary {
            id: id.into(),
            parent_id: parent.into(),
            size,
            repo_tags: if tag.is_empty() { Vec::new() } else { vec![tag.into()] },
            ..ImageSummary::default()
        }
    }

    #[test]
    fn shared_layers_count_once() {
        // base 100 <- env 150 (own 50) <- two instances of 160 and 170 (own 10 and 20); another image apart.
        let list = [
            image("b", "", 100, "srl-swe/base:1"),
            image("e", "b", 150, "srl-swe/env.x:1"),
            image("i1", "e", 160, "srl-swe/inst.a:1"),
            image("i2", "e", 170, "srl-swe/inst.b:1"),
            image("o", "", 1000, "debian:12"),
        ];
        let ours = |i: &ImageSummary| i.repo_tags.iter().any(|t| t.starts_with("srl-swe/"));
        assert_eq!(union_bytes(&list, ours), ImagesDisk { images: 4, bytes: 100 + 50 + 10 + 20 });
        // Only the instances: their parents' layers are on disk for them, counted once.
        let inst = |i: &ImageSummary| i.repo_tags.iter().any(|t| t.starts_with("srl-swe/inst."));
        assert_eq!(union_bytes(&list, inst), ImagesDisk { images: 2, bytes: 180 });
        // An untagged parent (its tag removed while a child needs it) still counts for the child.
        let list = [image("b", "", 100, ""), image("i1", "b", 130, "srl-swe/inst.a:1")];
        assert_eq!(union_bytes(&list, ours), ImagesDisk { images: 1, bytes: 130 });
        assert_eq!(union_bytes(&[], ours), ImagesDisk::default());
    }

    #[test]
    fn sizes_print_as_docker_does() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_000), "1.00 kB");
        assert_eq!(human_bytes(12_345_678), "12.3 MB");
        assert_eq!(human_bytes(999_999_999), "1.00 GB");
        assert_eq!(human_bytes(123_456_789_012), "123 GB");
        let d = ImagesDisk { images: 3, bytes: 1_234_000_000 };
        assert_eq!(d.to_string(), "1.23 GB in 3 images");
        assert_eq!(ImagesDisk { images: 1, bytes: 5 }.to_string(), "5 B in 1 image");
        assert_eq!(d + ImagesDisk { images: 1, bytes: 6_000_000 }, ImagesDisk { images: 4, bytes: 1_240_000_000 });
    }
}
