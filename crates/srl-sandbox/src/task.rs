//! Datasets of instances and where their repositories come from (bundled tasks: `tasks/<name>/repo`).

use std::path::{Path, PathBuf};

use srl_core::Instance;

use crate::error::{Context, Result, SandboxError};
use crate::repo::RepoSource;

/// Instances plus the rule that finds their repositories: `srl-swe/<name>` is the folder `<tasks>/<name>/repo`;
/// any other repo is looked up in the mirror folder ([`RepoSource::from_mirror`]).
#[derive(Clone, Debug, Default)]
pub struct TaskSet {
    pub instances: Vec<Instance>,
    /// The bundled tasks folder (`tasks/`).
    pub tasks_dir: Option<PathBuf>,
    /// A folder of git mirrors for other repositories.
    pub mirror_dir: Option<PathBuf>,
}

impl TaskSet {
    /// Read a JSONL (one SWE-bench row a line) or JSON (a list of rows) dataset.
    pub fn load(path: &Path) -> Result<TaskSet> {
        let text = std::fs::read_to_string(path).ctx(|| format!("read {}", path.display()))?;
        let bad = |line: usize, e: serde_json::Error| SandboxError::Spec {
            file: path.to_path_buf(),
            message: format!("line {line}: {e}"),
        };
        let instances = if text.trim_start().starts_with('[') {
            serde_json::from_str(&text).map_err(|e| bad(1, e))?
        } else {
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| serde_json::from_str(l).map_err(|e| bad(i + 1, e)))
                .collect::<Result<Vec<Instance>>>()?
        };
        Ok(TaskSet { instances, tasks_dir: None, mirror_dir: None })
    }

    /// The bundled tasks: `<tasks_dir>/bundled.jsonl`, repositories under `<tasks_dir>/<name>/repo`.
    pub fn bundled(tasks_dir: &Path) -> Result<TaskSet> {
        let mut set = TaskSet::load(&tasks_dir.join("bundled.jsonl"))?;
        set.tasks_dir = Some(tasks_dir.to_path_buf());
        Ok(set)
    }

    /// Also look up repositories in a mirror folder.
    pub fn with_mirror(mut self, dir: Option<PathBuf>) -> Self {
        self.mirror_dir = dir;
        self
    }

    /// The instance with this id.
    pub fn get(&self, instance_id: &str) -> Result<&Instance> {
        self.instances
            .iter()
            .find(|i| i.instance_id == instance_id)
            .ok_or_else(|| SandboxError::UnknownTask(instance_id.to_string()))
    }

    /// The folder of a bundled task (`<tasks>/<name>` for repo `srl-swe/<name>`).
    pub fn task_dir(&self, instance: &Instance) -> Option<PathBuf> {
        let name = instance.repo.strip_prefix("srl-swe/")?;
        let dir = self.tasks_dir.as_ref()?.join(name);
        dir.is_dir().then_some(dir)
    }

    /// Where the repository of `instance` comes from.
    pub fn source(&self, instance: &Instance) -> Result<RepoSource> {
        if let Some(dir) = self.task_dir(instance) {
            return Ok(RepoSource::Files(dir.join("repo")));
        }
        if let Some(m) = &self.mirror_dir
            && let Some(s) = RepoSource::from_mirror(m, &instance.repo)
        {
            return Ok(s);
        }
        Err(SandboxError::Other(format!(
            "no repository source for {} ({}): not a bundled task, and {}",
            instance.instance_id,
            instance.repo,
            match &self.mirror_dir {
                Some(d) => format!("no {} in the mirror folder {}", instance.repo.replace('/', "__"), d.display()),
                None => format!("no --mirror-dir holding a git mirror of it ({})", instance.repo.replace('/', "__")),
            }
        )))
    }
}
