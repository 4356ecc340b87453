//! The on-disk layout of an evaluation run, its atomic writes ([`srl_core::fs::write_atomic`]), and the resume check.
//!
//! `<report_dir>/<run_id>/<model with / as __>/<instance_id>/{patch.diff, eval.sh, test_output.txt, report.json,
//! srl_extras.json}` and `<report_dir>/<run_id>/summary.json`: SWE-bench's `logs/run_evaluation/...` layout.

use std::path::{Path, PathBuf};

use serde::Serialize;

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

    /// The `srl_extras.json` of an instance, if it is there and readable.
    pub fn read_extras(&self, model: &str, instance_id: &str) -> Option<InstanceExtras> {
        let text = std::fs::read_to_string(self.instance_dir(model, instance_id).join(EXTRAS_FILE)).ok()?;
        serde_json::from_str(&text).ok()
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
            write_file(&dir.join(PATCH_FILE), p.as_bytes())?;
        }
        if let Some(s) = files.eval_script {
            write_file(&dir.join(EVAL_SCRIPT_FILE), s.as_bytes())?;
        }
        if let Some(o) = files.test_output {
            write_file(&dir.join(TEST_OUTPUT_FILE), o.as_bytes())?;
        }
        if let Some(x) = files.extras {
            let text = crate::report::to_pretty_json(x);
            write_file(&dir.join(EXTRAS_FILE), text.as_bytes())?;
        }
        if let Some(r) = files.report {
            write_file(&dir.join(REPORT_FILE), r.to_json(instance_id).as_bytes())?;
        }
        Ok(dir)
    }

    pub fn write_summary(&self, summary: &RunSummary) -> Result<PathBuf, EvalError> {
        let path = self.summary_path();
        write_file(&path, summary.to_json().as_bytes())?;
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

/// Writes `bytes` to `path` atomically ([`srl_core::fs::write_atomic`]), the error naming the file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    srl_core::fs::write_atomic(path, bytes).map_err(|e| EvalError::io(path, e))
}

/// Writes `value` as pretty JSON with a final newline, atomically (a reader sees the old file or the new one).
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), EvalError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| EvalError::io(path, e.into()))? + "\n";
    write_file(path, text.as_bytes())
}

/// Writes `values` as JSON lines, atomically. Returns how many.
pub fn write_jsonl_atomic<'a, T: Serialize + 'a>(
    path: &Path,
    values: impl IntoIterator<Item = &'a T>,
) -> Result<usize, EvalError> {
    let mut text = String::new();
    let mut n = 0;
    for v in values {
        text += &serde_json::to_string(v).map_err(|e| EvalError::io(path, e.into()))?;
        text.push('\n');
        n += 1;
    }
    write_file(path, text.as_bytes())?;
    Ok(n)
}
