//! The on-disk layout of an evaluation run, atomic writes, and the resume check.
//!
//! `<report_dir>/<run_id>/<model with / as __>/<instance_id>/{patch.diff, eval.sh, test_output.txt, report.json,
//! srl_extras.json}` and `<report_dir>/<run_id>/summary.json`: SWE-bench's `logs/run_evaluation/...` layout.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::EvalError;
use crate::report::{InstanceExtras, InstanceReport, RunSummary};

pub const PATCH_FILE: &str = "patch.diff";
pub const EVAL_SCRIPT_FILE: &str = "eval.sh";
pub const TEST_OUTPUT_FILE: &str = "test_output.txt";
pub const REPORT_FILE: &str = "report.json";
pub const EXTRAS_FILE: &str = "srl_extras.json";
pub const SUMMARY_FILE: &str = "summary.json";

/// Where one run's files go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLayout {
    pub report_dir: PathBuf,
    pub run_id: String,
}

/// A model name as a folder name: `/` becomes `__` (SWE-bench's rule).
pub fn model_dir_name(model: &str) -> String {
    model.replace('/', "__")
}

impl RunLayout {
    pub fn new(report_dir: impl Into<PathBuf>, run_id: impl Into<String>) -> RunLayout {
        RunLayout { report_dir: report_dir.into(), run_id: run_id.into() }
    }

    /// `<report_dir>/<run_id>`.
    pub fn run_dir(&self) -> PathBuf {
        self.report_dir.join(&self.run_id)
    }

    /// `<report_dir>/<run_id>/<model with / as __>/<instance_id>`.
    pub fn instance_dir(&self, model: &str, instance_id: &str) -> PathBuf {
        self.run_dir().join(model_dir_name(model)).join(instance_id)
    }

    pub fn report_path(&self, model: &str, instance_id: &str) -> PathBuf {
        self.instance_dir(model, instance_id).join(REPORT_FILE)
    }

    pub fn summary_path(&self) -> PathBuf {
        self.run_dir().join(SUMMARY_FILE)
    }

    /// Resume check: true iff this instance's `report.json` exists and holds a report for this id. A torn or
    /// foreign file (which atomic writes prevent) counts as not graded, so the instance runs again.
    pub fn is_graded(&self, model: &str, instance_id: &str) -> bool {
        match InstanceReport::read(&self.report_path(model, instance_id)) {
            Ok((id, _)) => id == instance_id,
            Err(_) => false,
        }
    }

    /// The report of a graded instance, if any.
    pub fn read_report(&self, model: &str, instance_id: &str) -> Option<InstanceReport> {
        InstanceReport::read(&self.report_path(model, instance_id))
            .ok()
            .filter(|(id, _)| id == instance_id)
            .map(|(_, r)| r)
    }

    /// Writes one instance's files. `report.json` is written last, so that its presence means the rest is there.
    pub fn write_instance(
        &self,
        model: &str,
        instance_id: &str,
        files: &InstanceFiles<'_>,
    ) -> Result<PathBuf, EvalError> {
        let dir = self.instance_dir(model, instance_id);
        std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
        if let Some(p) = files.patch {
            write_atomic(&dir.join(PATCH_FILE), p.as_bytes())?;
        }
        if let Some(s) = files.eval_script {
            write_atomic(&dir.join(EVAL_SCRIPT_FILE), s.as_bytes())?;
        }
        if let Some(o) = files.test_output {
            write_atomic(&dir.join(TEST_OUTPUT_FILE), o.as_bytes())?;
        }
        if let Some(x) = files.extras {
            let text = crate::report::to_pretty_json(x);
            write_atomic(&dir.join(EXTRAS_FILE), text.as_bytes())?;
        }
        if let Some(r) = files.report {
            write_atomic(&dir.join(REPORT_FILE), r.to_json(instance_id).as_bytes())?;
        }
        Ok(dir)
    }

    pub fn write_summary(&self, summary: &RunSummary) -> Result<PathBuf, EvalError> {
        let path = self.summary_path();
        write_atomic(&path, summary.to_json().as_bytes())?;
        Ok(path)
    }
}

/// What [`RunLayout::write_instance`] writes; `None` fields are left alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstanceFiles<'a> {
    pub patch: Option<&'a str>,
    pub eval_script: Option<&'a str>,
    pub test_output: Option<&'a str>,
    pub report: Option<&'a InstanceReport>,
    pub extras: Option<&'a InstanceExtras>,
}

/// Writes `bytes` to a temporary file in `path`'s folder, syncs it, then renames it over `path`: a reader sees the
/// old file or the whole new one, never a part. Creates the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(|e| EvalError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| EvalError::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| EvalError::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| EvalError::io(path, e.error))?;
    Ok(())
}
