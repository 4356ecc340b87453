//! SWE-bench's per-instance `report.json` and run summary, plus our extras in a separate file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;

/// One `{success, failure}` pair of a report's `tests_status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestBucket {
    pub success: Vec<String>,
    pub failure: Vec<String>,
}

impl TestBucket {
    /// success / (success + failure), 1 when both are empty (SWE-bench's `compute_fail_to_pass`).
    pub fn rate(&self) -> f64 {
        let total = self.success.len() + self.failure.len();
        if total == 0 { 1.0 } else { self.success.len() as f64 / total as f64 }
    }
}

/// A report's `tests_status`, keys in SWE-bench's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestsStatus {
    #[serde(rename = "FAIL_TO_PASS")]
    pub fail_to_pass: TestBucket,
    #[serde(rename = "PASS_TO_PASS")]
    pub pass_to_pass: TestBucket,
    #[serde(rename = "FAIL_TO_FAIL", default)]
    pub fail_to_fail: TestBucket,
    #[serde(rename = "PASS_TO_FAIL", default)]
    pub pass_to_fail: TestBucket,
}

impl TestsStatus {
    /// SWE-bench's `get_resolution_status`: FULL iff F2P and P2P rates are 1; PARTIAL iff 0 < F2P < 1 and P2P is 1.
    pub fn resolution(&self) -> ResolvedStatus {
        let (f2p, p2p) = (self.fail_to_pass.rate(), self.pass_to_pass.rate());
        if f2p == 1.0 && p2p == 1.0 {
            ResolvedStatus::Full
        } else if f2p > 0.0 && f2p < 1.0 && p2p == 1.0 {
            ResolvedStatus::Partial
        } else {
            ResolvedStatus::No
        }
    }
}

/// The value under the instance id in SWE-bench's `report.json`, keys in SWE-bench's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceReport {
    #[serde(rename = "patch_is_None")]
    pub patch_is_none: bool,
    pub patch_exists: bool,
    pub patch_successfully_applied: bool,
    pub resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_status: Option<TestsStatus>,
}

impl InstanceReport {
    /// Renders `{instance_id: self}` with 4-space indentation, as SWE-bench's `json.dump(..., indent=4)`.
    pub fn to_json(&self, instance_id: &str) -> String {
        let mut map = BTreeMap::new();
        map.insert(instance_id, self);
        to_pretty_json(&map)
    }

    /// Reads `{instance_id: report}` text; the single (first) entry.
    pub fn from_json(text: &str) -> Result<(String, InstanceReport), serde_json::Error> {
        let map: BTreeMap<String, InstanceReport> = serde_json::from_str(text)?;
        map.into_iter().next().ok_or_else(|| serde::de::Error::custom("report.json has no instance"))
    }

    /// Reads a `report.json` file.
    pub fn read(path: &Path) -> Result<(String, InstanceReport), EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        InstanceReport::from_json(&text).map_err(|e| EvalError::parse(path, format!("line {}", e.line()), e))
    }
}

/// Why an instance has no graded result (or how its grading went wrong). Stored in our extras file, never in
/// `report.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The eval script ran past its time limit.
    Timeout,
    /// No patch method applied the model patch.
    PatchFailed,
    /// The environment or instance image could not be built or pulled.
    ImageBuildFailed,
    /// The container could not be created, started or exec'd into.
    ContainerFailed,
    /// The log had no valid result (see `InstanceExtras::log_error`).
    InvalidLog,
    /// The prediction's patch was empty or missing: not run.
    EmptyPatch,
    /// Anything else; `InstanceExtras::message` says what.
    Other,
}

/// Our extras about one instance's run, written next to `report.json` as `srl_extras.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceExtras {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name_or_path: Option<String>,
    /// Which method applied the model patch (e.g. `git apply --verbose`, `patch --batch --fuzz=5 -p1 -i`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_method: Option<String>,
    /// The test command's exit code as the log records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_exit_code: Option<i32>,
    /// The eval script's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// RESOLVED_FULL / RESOLVED_PARTIAL / RESOLVED_NO, when graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ResolvedStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<crate::log::LogError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The Docker engine that ran the instance (its name in the host pool; `local` alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_host: Option<String>,
    /// How the environment built here departs from SWE-bench's (another Python: the spec's `deviation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_deviation: Option<String>,
}

/// The run summary, with SWE-bench's keys (`make_run_report`) plus `resolve_rate`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub total_instances: usize,
    pub submitted_instances: usize,
    pub completed_instances: usize,
    pub resolved_instances: usize,
    pub unresolved_instances: usize,
    pub empty_patch_instances: usize,
    pub error_instances: usize,
    /// resolved / total_instances (the split's size: 500 for Verified), 0 when there are none.
    pub resolve_rate: f64,
    pub completed_ids: Vec<String>,
    pub incomplete_ids: Vec<String>,
    pub empty_patch_ids: Vec<String>,
    pub submitted_ids: Vec<String>,
    pub resolved_ids: Vec<String>,
    pub unresolved_ids: Vec<String>,
    pub error_ids: Vec<String>,
    pub schema_version: u32,
    /// The Docker engine that ran each instance (from `srl_extras.json`), by instance id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub docker_hosts: BTreeMap<String, String>,
    /// Instances whose environment departs from SWE-bench's, and how (`srl_extras.json`'s
    /// `environment_deviation`), by instance id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment_deviations: BTreeMap<String, String>,
}

impl RunSummary {
    /// Builds the summary as SWE-bench does. `dataset_ids`: every instance of the split; `submitted`: (id, patch
    /// is empty or missing) per prediction; `reports`: the reports found on disk, by id. A submitted instance with a
    /// non-empty patch and no report is an error; an empty patch is not run and not an error.
    pub fn build<'a>(
        dataset_ids: impl IntoIterator<Item = &'a str>,
        submitted: impl IntoIterator<Item = (&'a str, bool)>,
        reports: &BTreeMap<String, InstanceReport>,
    ) -> RunSummary {
        let dataset: Vec<&str> = dataset_ids.into_iter().collect();
        let mut s = RunSummary { total_instances: dataset.len(), schema_version: 2, ..RunSummary::default() };
        let mut seen = std::collections::BTreeSet::new();
        for (id, empty) in submitted {
            if !seen.insert(id) {
                continue;
            }
            s.submitted_ids.push(id.to_string());
            if empty {
                s.empty_patch_ids.push(id.to_string());
                continue;
            }
            match reports.get(id) {
                Some(r) => {
                    s.completed_ids.push(id.to_string());
                    if r.resolved { s.resolved_ids.push(id.to_string()) } else { s.unresolved_ids.push(id.to_string()) }
                }
                None => s.error_ids.push(id.to_string()),
            }
        }
        s.incomplete_ids = dataset.iter().filter(|id| !seen.contains(*id)).map(|id| id.to_string()).collect();
        for v in [
            &mut s.completed_ids,
            &mut s.incomplete_ids,
            &mut s.empty_patch_ids,
            &mut s.submitted_ids,
            &mut s.resolved_ids,
            &mut s.unresolved_ids,
            &mut s.error_ids,
        ] {
            v.sort();
        }
        s.submitted_instances = s.submitted_ids.len();
        s.completed_instances = s.completed_ids.len();
        s.resolved_instances = s.resolved_ids.len();
        s.unresolved_instances = s.unresolved_ids.len();
        s.empty_patch_instances = s.empty_patch_ids.len();
        s.error_instances = s.error_ids.len();
        s.resolve_rate =
            if s.total_instances == 0 { 0.0 } else { s.resolved_instances as f64 / s.total_instances as f64 };
        s
    }

    pub fn to_json(&self) -> String {
        to_pretty_json(self)
    }
}

/// JSON with 4-space indentation and a trailing-newline-free body, like Python's `json.dumps(indent=4)`.
pub(crate) fn to_pretty_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    value.serialize(&mut ser).expect("serialising plain data cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}
/// SWE-bench's resolution status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResolvedStatus {
    #[serde(rename = "RESOLVED_FULL")]
    Full,
    #[serde(rename = "RESOLVED_PARTIAL")]
    Partial,
    #[serde(rename = "RESOLVED_NO")]
    No,
}

impl ResolvedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResolvedStatus::Full => "RESOLVED_FULL",
            ResolvedStatus::Partial => "RESOLVED_PARTIAL",
            ResolvedStatus::No => "RESOLVED_NO",
        }
    }
}
