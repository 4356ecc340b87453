//! Validation of a dataset's environments: the gold patch of every instance should resolve it and the empty patch
//! (the tests on the unpatched repository) should not. [`Validation::from_runs`] reads the two runs' reports and
//! extras from disk and tallies them per repository; [`Validation::write`] puts `validation.json` and
//! `validation.md` beside the runs. An instance whose gold patch does not resolve, whose empty patch does, or
//! whose run errored is listed with its reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use srl_core::Instance;

use crate::error::EvalError;
use crate::layout::{RunLayout, write_json_atomic};
use crate::report::{ErrorKind, InstanceExtras, InstanceReport};

/// How one side (gold or empty) of one instance went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Resolved,
    Unresolved,
    /// Not graded: the error kind of `srl_extras.json` (or `not_run` when the instance has no files).
    Error,
}

/// One instance of the validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceCheck {
    pub instance_id: String,
    pub repo: String,
    pub gold: Side,
    pub empty: Side,
    /// Why the instance is not a clean pass (gold resolves, empty does not); `None` when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl InstanceCheck {
    /// Gold resolves and the empty patch does not.
    pub fn passes(&self) -> bool {
        self.gold == Side::Resolved && self.empty == Side::Unresolved
    }
}

/// One repository's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRow {
    pub repo: String,
    pub instances: usize,
    pub gold_resolved: usize,
    pub empty_resolved: usize,
    /// Instances with an error on either side (no report: image, container, patch, timeout, log).
    pub errors: usize,
    /// Error reasons (`gold: image_build_failed`, ...) and how many instances each.
    pub reasons: BTreeMap<String, usize>,
}

/// The per-repository table and every instance's outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub gold_run: String,
    pub empty_run: String,
    pub repos: Vec<RepoRow>,
    pub total: RepoRow,
    pub instances: Vec<InstanceCheck>,
}

impl Validation {
    /// Reads the gold run's and the empty run's results of `instances` (model names `gold` and `empty`).
    pub fn from_runs(instances: &[Instance], gold: &RunLayout, empty: &RunLayout) -> Validation {
        let side = |layout: &RunLayout, model: &str, id: &str| -> (Side, Option<String>, String) {
            let extras = layout.read_extras(model, id);
            let (side, why, kind) = side_of(layout.read_report(model, id).as_ref(), extras.as_ref());
            // Why tests failed, when the log says: no network here, another Python than SWE-bench's.
            let mut notes = Vec::new();
            if side == Side::Unresolved {
                let log = std::fs::read_to_string(layout.instance_dir(model, id).join("test_output.txt"));
                if let Some(m) = log.ok().as_deref().and_then(crate::log::network_failure) {
                    notes.push(format!("the tests need the network (`{m}` in the log); containers have none"));
                }
                if let Some(d) = extras.as_ref().and_then(|x| x.environment_deviation.as_deref()) {
                    notes.push(format!("environment deviation: {}", d.split(':').next().unwrap_or(d)));
                }
            }
            let why = match (why, notes.is_empty()) {
                (w, true) => w,
                (Some(w), false) => Some(format!("{w}; {}", notes.join("; "))),
                (None, false) => Some(notes.join("; ")),
            };
            (side, why, kind)
        };
        let mut checks = Vec::with_capacity(instances.len());
        for inst in instances {
            let id = inst.instance_id.as_str();
            let (g, g_why, g_kind) = side(gold, "gold", id);
            let (e, e_why, e_kind) = side(empty, "empty", id);
            let mut keys = Vec::new();
            if g == Side::Error {
                keys.push(format!("gold: {g_kind}"));
            }
            if e == Side::Error {
                keys.push(format!("empty: {e_kind}"));
            }
            let mut why = Vec::new();
            match (&g, g_why) {
                (Side::Resolved, _) => {}
                (Side::Unresolved, w) => {
                    why.push(format!("gold unresolved{}", w.map(|w| format!(" ({w})")).unwrap_or_default()))
                }
                (Side::Error, w) => why.push(format!("gold: {}", w.unwrap_or_default())),
            }
            match (&e, e_why) {
                (Side::Unresolved, _) => {}
                (Side::Resolved, _) => why.push("empty resolved (the tests do not see the bug)".to_string()),
                (Side::Error, w) => why.push(format!("empty: {}", w.unwrap_or_default())),
            }
            let reason = (!why.is_empty()).then(|| why.join("; "));
            let check =
                InstanceCheck { instance_id: id.to_string(), repo: inst.repo.clone(), gold: g, empty: e, reason };
            checks.push((check, keys));
        }
        let mut repos: BTreeMap<String, RepoRow> = BTreeMap::new();
        let mut total = RepoRow { repo: "total".into(), ..RepoRow::default() };
        for (c, keys) in &checks {
            let row =
                repos.entry(c.repo.clone()).or_insert_with(|| RepoRow { repo: c.repo.clone(), ..RepoRow::default() });
            for r in [row, &mut total] {
                r.instances += 1;
                r.gold_resolved += usize::from(c.gold == Side::Resolved);
                r.empty_resolved += usize::from(c.empty == Side::Resolved);
                if c.gold == Side::Error || c.empty == Side::Error {
                    r.errors += 1;
                }
                for key in keys {
                    *r.reasons.entry(key.clone()).or_default() += 1;
                }
            }
        }
        Validation {
            gold_run: gold.run_id.clone(),
            empty_run: empty.run_id.clone(),
            repos: repos.into_values().collect(),
            total,
            instances: checks.into_iter().map(|(c, _)| c).collect(),
        }
    }

    /// The table and the instances that are not clean passes, as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# Validation: gold patches (run `{}`) and empty patches (run `{}`)\n\n",
            self.gold_run, self.empty_run
        );
        out += "| repository | instances | gold resolved | empty resolved | errors | error reasons |\n";
        out += "|---|---|---|---|---|---|\n";
        for r in self.repos.iter().chain(std::iter::once(&self.total)) {
            let reasons: Vec<String> = r.reasons.iter().map(|(k, n)| format!("{k} ({n})")).collect();
            out += &format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                r.repo,
                r.instances,
                r.gold_resolved,
                r.empty_resolved,
                r.errors,
                reasons.join(", ")
            );
        }
        let flagged: Vec<&InstanceCheck> = self.instances.iter().filter(|c| !c.passes()).collect();
        if flagged.is_empty() {
            out += "\nEvery gold patch resolves its instance and no empty patch does.\n";
        } else {
            out += "\n## Instances that are not clean passes\n\n";
            for c in flagged {
                out += &format!("- `{}`: {}\n", c.instance_id, c.reason.as_deref().unwrap_or(""));
            }
        }
        out
    }

    /// Writes `<dir>/validation.json` and `<dir>/validation.md` (atomically). Returns the two paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), EvalError> {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        let json = dir.join("validation.json");
        write_json_atomic(&json, self)?;
        let md = dir.join("validation.md");
        srl_core::fs::write_atomic(&md, self.to_markdown().as_bytes()).map_err(|e| EvalError::io(&md, e))?;
        Ok((json, md))
    }
}

/// A side's outcome; when it is not resolved, why (the error kind and the last lines of its message, or the counts
/// of failing FAIL_TO_PASS / PASS_TO_PASS tests); and the error kind's name (meaningful for [`Side::Error`]).
fn side_of(report: Option<&InstanceReport>, extras: Option<&InstanceExtras>) -> (Side, Option<String>, String) {
    match report {
        Some(r) if r.resolved => (Side::Resolved, None, String::new()),
        Some(r) => {
            let why = match &r.tests_status {
                Some(t) => format!(
                    "{} of {} FAIL_TO_PASS and {} of {} PASS_TO_PASS failing",
                    t.fail_to_pass.failure.len(),
                    t.fail_to_pass.failure.len() + t.fail_to_pass.success.len(),
                    t.pass_to_pass.failure.len(),
                    t.pass_to_pass.failure.len() + t.pass_to_pass.success.len()
                ),
                None => match extras.and_then(|x| x.log_error.as_ref()) {
                    Some(e) => format!("invalid log: {e:?}"),
                    None => "no test results".to_string(),
                },
            };
            (Side::Unresolved, Some(why), String::new())
        }
        None => {
            let kind = extras.and_then(|x| x.error.as_ref()).map_or_else(|| "not_run".to_string(), error_name);
            // As the CLI prints an error: pip's stated cause, else the last two lines (a build's cause is at the end).
            let message = extras.and_then(|x| x.message.as_deref()).map(crate::log::error_summary).unwrap_or_default();
            let why = if message.is_empty() { kind.to_string() } else { format!("{kind}: {message}") };
            (Side::Error, Some(why), kind)
        }
    }
}

/// The kind as `srl_extras.json` writes it (its serde name, e.g. `image_build_failed`).
fn error_name(kind: &ErrorKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::InstanceFiles;
    use crate::report::{TestBucket, TestsStatus};

    fn instance(id: &str, repo: &str) -> Instance {
        Instance { instance_id: id.into(), repo: repo.into(), ..Instance::default() }
    }

    fn graded(layout: &RunLayout, model: &str, id: &str, resolved: bool) {
        let status = TestsStatus {
            fail_to_pass: TestBucket {
                success: if resolved { vec!["t1".into()] } else { vec![] },
                failure: if resolved { vec![] } else { vec!["t1".into()] },
            },
            ..TestsStatus::default()
        };
        let report = InstanceReport {
            patch_exists: true,
            patch_successfully_applied: true,
            resolved,
            tests_status: Some(status),
            ..InstanceReport::default()
        };
        layout.write_instance(model, id, &InstanceFiles { report: Some(&report), ..InstanceFiles::default() }).unwrap();
    }

    fn errored(layout: &RunLayout, model: &str, id: &str, kind: ErrorKind, message: &str) {
        let extras = InstanceExtras {
            instance_id: id.into(),
            error: Some(kind),
            message: Some(message.into()),
            ..InstanceExtras::default()
        };
        layout.write_instance(model, id, &InstanceFiles { extras: Some(&extras), ..InstanceFiles::default() }).unwrap();
    }

    #[test]
    fn unresolved_gold_says_when_the_tests_wanted_the_network_or_the_python_differs() {
        let dir = tempfile::tempdir().unwrap();
        let gold = RunLayout::new(dir.path(), "v.gold");
        let empty = RunLayout::new(dir.path(), "v.empty");
        let insts = [instance("psf__requests-1", "psf/requests"), instance("a__x-1", "a/x")];
        for i in &insts {
            graded(&gold, "gold", &i.instance_id, false);
            graded(&empty, "empty", &i.instance_id, false);
        }
        let log = "FAILED test_requests.py::t - requests.exceptions.ConnectionError: HTTPConnectionPool(host='httpbin.org', \
                   port=80): Max retries exceeded with url: /get (Caused by NewConnectionError(...))\n";
        std::fs::write(gold.instance_dir("gold", "psf__requests-1").join("test_output.txt"), log).unwrap();
        let extras = InstanceExtras {
            instance_id: "a__x-1".into(),
            environment_deviation: Some("SWE-bench specifies Python 3.6, ...: a/x 1.0 supports 3.6-3.9".into()),
            ..InstanceExtras::default()
        };
        gold.write_instance("gold", "a__x-1", &InstanceFiles { extras: Some(&extras), ..InstanceFiles::default() })
            .unwrap();
        let v = Validation::from_runs(&insts, &gold, &empty);
        let why = |id: &str| v.instances.iter().find(|c| c.instance_id == id).unwrap().reason.clone().unwrap();
        assert!(
            why("psf__requests-1").contains("the tests need the network (`NewConnectionError`"),
            "{}",
            why("psf__requests-1")
        );
        assert_eq!(
            why("a__x-1"),
            "gold unresolved (1 of 1 FAIL_TO_PASS and 0 of 0 PASS_TO_PASS failing; environment deviation: SWE-bench \
             specifies Python 3.6, ...)"
        );
    }

    #[test]
    fn tallies_each_repository_and_names_every_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (gold, empty) = (RunLayout::new(dir.path(), "v.gold"), RunLayout::new(dir.path(), "v.empty"));
        let instances = [
            instance("a__x-1", "a/x"),
            instance("a__x-2", "a/x"),
            instance("b__y-1", "b/y"),
            instance("b__y-2", "b/y"),
            instance("b__y-3", "b/y"),
        ];
        // a__x-1: clean pass. a__x-2: gold unresolved. b__y-1: empty resolved. b__y-2: gold image error,
        // empty timeout. b__y-3: never run.
        graded(&gold, "gold", "a__x-1", true);
        graded(&empty, "empty", "a__x-1", false);
        graded(&gold, "gold", "a__x-2", false);
        graded(&empty, "empty", "a__x-2", false);
        graded(&gold, "gold", "b__y-1", true);
        graded(&empty, "empty", "b__y-1", true);
        errored(
            &gold,
            "gold",
            "b__y-2",
            ErrorKind::ImageBuildFailed,
            "pip download failed:\nERROR: MarkupSafe==2.1.1\n",
        );
        errored(&empty, "empty", "b__y-2", ErrorKind::Timeout, "the tests ran past 60 s");

        let v = Validation::from_runs(&instances, &gold, &empty);
        let rows: Vec<(&str, usize, usize, usize, usize)> = v
            .repos
            .iter()
            .map(|r| (r.repo.as_str(), r.instances, r.gold_resolved, r.empty_resolved, r.errors))
            .collect();
        assert_eq!(rows, [("a/x", 2, 1, 0, 0), ("b/y", 3, 1, 1, 2)]);
        assert_eq!((v.total.instances, v.total.gold_resolved, v.total.empty_resolved, v.total.errors), (5, 2, 1, 2));
        let b = &v.repos[1].reasons;
        assert_eq!(b.get("gold: image_build_failed"), Some(&1));
        assert_eq!(b.get("empty: timeout"), Some(&1));
        assert_eq!((b.get("gold: not_run"), b.get("empty: not_run")), (Some(&1), Some(&1)));

        let by_id = |id: &str| v.instances.iter().find(|c| c.instance_id == id).unwrap();
        assert!(by_id("a__x-1").passes() && by_id("a__x-1").reason.is_none());
        assert_eq!(
            by_id("a__x-2").reason.as_deref(),
            Some("gold unresolved (1 of 1 FAIL_TO_PASS and 0 of 0 PASS_TO_PASS failing)")
        );
        assert_eq!(by_id("b__y-1").reason.as_deref(), Some("empty resolved (the tests do not see the bug)"));
        assert_eq!(
            by_id("b__y-2").reason.as_deref(),
            Some(
                "gold: image_build_failed: pip download failed: | ERROR: MarkupSafe==2.1.1; empty: timeout: the tests ran \
                 past 60 s"
            )
        );

        let (json, md) = v.write(&dir.path().join("v.validation")).unwrap();
        let back: Validation = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        assert_eq!(back, v);
        let md = std::fs::read_to_string(md).unwrap();
        assert!(md.contains("| b/y | 3 | 1 | 1 | 2 | empty: not_run (1), empty: timeout (1), gold: image_build_failed (1), gold: not_run (1) |"), "{md}");
        assert!(md.contains("| total | 5 | 2 | 1 | 2 |"), "{md}");
        assert!(md.contains("- `b__y-1`: empty resolved") && !md.contains("- `a__x-1`"), "{md}");
    }

    #[test]
    fn empty_patches_run_when_asked_and_graded_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let layout = RunLayout::new(dir.path(), "v.empty");
        let instances = [instance("a__x-1", "a/x"), instance("a__x-2", "a/x")];
        let preds = crate::predictions::empty_predictions(&instances);
        graded(&layout, "empty", "a__x-1", false);
        let mut plan = crate::run::plan_run(&instances, &preds, &layout, false).unwrap();
        assert_eq!((plan.to_run.len(), plan.empty_patch.len()), (0, 2));
        plan.run_empty_patches(&instances, &preds, &layout, false);
        let ids: Vec<&str> = plan.to_run.iter().map(|(i, _)| i.instance_id.as_str()).collect();
        assert_eq!(
            (ids, plan.already_graded.clone(), plan.empty_patch.len()),
            (vec!["a__x-2"], vec!["a__x-1".to_string()], 0)
        );
        let mut plan = crate::run::plan_run(&instances, &preds, &layout, true).unwrap();
        plan.run_empty_patches(&instances, &preds, &layout, true);
        assert_eq!(plan.to_run.len(), 2);
    }
}
